// The engine's contracts: the read-only view of its state that
// admin, metrics and peek read. Counters are plain numbers mutated in place: no work per chunk.
// Byte directions are named the same everywhere: up = client -> backend, down = backend -> client.
import type { HealthState } from "../health/types.ts";

export type { HealthState } from "../health/types.ts";
import type { BalanceName, ListenerPlan } from "../routing/types.ts";

export type ListenerState = "pending" | "listening" | "bind_failed" | "draining";

export interface BackendCounters {
  active: number;
  total: number;
  connectFailures: number;
  /** client -> backend bytes */
  bytesUp: number;
  /** backend -> client bytes */
  bytesDown: number;
}

export interface BackendView {
  readonly key: string;
  readonly address: string;
  /** Redacted proxy URL, if any */
  readonly via?: string;
  readonly service: string;
  readonly weight: number;
  readonly tier: number;
  readonly health: HealthState;
  /** Drained by routing or by the admin API */
  readonly drain: boolean;
  /** Drained by the admin API */
  readonly drainOverride: boolean;
  /** Disabled by routing or by a failing check with fall_action = "disable"; absent = false */
  readonly disabled?: boolean;
  /** Taken out by passive ejection (consecutive connect failures) for now */
  readonly ejected: boolean;
  readonly counters: Readonly<BackendCounters>;
}

export interface ListenerCounters {
  active: number;
  total: number;
  refused: number;
  /** client -> backend bytes */
  bytesUp: number;
  /** backend -> client bytes */
  bytesDown: number;
}

/** One service of a listener that routes by TLS server name. */
export interface SniRouteView {
  readonly service: string;
  /** Names it takes (canonical); empty: the default. */
  readonly names: readonly string[];
  /** Connections it took: open now, and in all. */
  readonly active: number;
  readonly total: number;
}

/** What a listener routing by TLS server name did. */
export interface SniView {
  readonly timeoutMs: number;
  readonly routes: readonly SniRouteView[];
  /** Connections closed because no service took their server name (and there is no default). */
  readonly unmatched: number;
  /** Connections whose ClientHello did not arrive within sni_timeout. */
  readonly timeouts: number;
}

export interface ListenerView {
  readonly key: string;
  readonly label: string;
  readonly host: string;
  readonly port: number;
  readonly state: ListenerState;
  /** For bind_failed: the reason */
  readonly error?: string;
  readonly services: readonly string[];
  readonly balance: BalanceName;
  readonly plan: ListenerPlan;
  readonly counters: Readonly<ListenerCounters>;
  readonly backends: readonly BackendView[];
  /** Set when the listener routes by TLS server name. */
  readonly sni?: SniView;
}

/** Hooks the engine calls at connection milestones; admin's metrics implement them. */
export interface EngineObserver {
  connectDone?(listener: string, backend: string, seconds: number, ok: boolean): void;
  connectionDone?(listener: string, seconds: number): void;
  /** A dial failed for want of a local resource (`errno`: EMFILE, ENFILE, ENOBUFS, ENOMEM). */
  localResourceError?(listener: string, errno: string): void;
}

/** One stick-table entry as the admin API shows it. */
export interface StickView {
  readonly service: string;
  /** The client key: its IP, "bytes:<hex>" or "<ip>+<hex>" after hash_key */
  readonly client: string;
  /** The backend group it is stuck to (the backend's group label or host) */
  readonly backend: string;
  /** ms since the epoch */
  readonly usedMs: number;
  readonly expiresMs: number;
}

/** What admin and peek may read and do: a read-only view plus the few control verbs. */
export interface EngineControl {
  /** The stick table's live entries, least recently used first. */
  stickEntries?(): readonly StickView[];
  /** Deletes the entries matching `service` and `client` (each optional: none = all); a count. */
  unstick?(service?: string, client?: string): number;
  /** Every listener, sorted by key, with live counters. */
  listeners(): readonly ListenerView[];
  /**
   * Runtime drain override of one backend (`backend` is its address, or its key when the same
   * address is reached through several proxies). Takes effect on the next connection.
   * Returns false when the listener or backend is unknown.
   */
  setDrain(listener: string, backend: string, drain: boolean): boolean;
}
