// The history's input (snapshots of counters), options, query and answer shapes.
import type { Agg } from "./ring.ts";

/** Backend states on the timeline, by severity (a bucket shows its most severe state). */
export const BACKEND_STATES = ["unknown", "up", "drained", "ejected", "down"] as const;
export type BackendState = (typeof BACKEND_STATES)[number];

export interface BackendSnapshot {
  readonly key: string;
  readonly health: "up" | "down" | "unknown";
  readonly ejected: boolean;
  readonly drain: boolean;
  readonly counters: {
    readonly active: number;
    readonly total: number;
    readonly connectFailures: number;
    readonly bytesUp: number;
    readonly bytesDown: number;
  };
}

export interface ListenerSnapshot {
  readonly key: string;
  readonly counters: {
    readonly active: number;
    readonly total: number;
    readonly refused: number;
    readonly bytesUp: number;
    readonly bytesDown: number;
  };
  readonly backends: readonly BackendSnapshot[];
}

export interface ProviderSnapshot {
  readonly name: string;
  readonly state: string;
  readonly lastUpdate?: string;
  readonly lastError?: string;
  readonly updates?: number;
  readonly errors?: number;
}

export interface Snapshot {
  readonly listeners: readonly ListenerSnapshot[];
  readonly providers: readonly ProviderSnapshot[];
}

export type HistoryEventKind = "listener_opened" | "listener_closed" | "provider_error";

export interface HistoryEvent {
  /** epoch milliseconds */
  readonly t: number;
  readonly kind: HistoryEventKind;
  readonly listener?: string;
  readonly provider?: string;
  readonly message?: string;
}

export function backendState(b: BackendSnapshot): BackendState {
  if (b.health === "down") return "down";
  if (b.ejected) return "ejected";
  if (b.drain) return "drained";
  return b.health;
}

export interface HistoryOptions {
  /** Slots (seconds) kept. @default 900 (15 minutes) */
  readonly seconds?: number;
  /** Listener, backend and provider series kept at most. @default 2000 */
  readonly maxSeries?: number;
  /** Events kept. @default 1000 */
  readonly maxEvents?: number;
}

export interface HistoryQuery {
  /** epoch seconds, inclusive; clipped to the window */
  readonly since: number;
  readonly until: number;
  /** bucket width in seconds */
  readonly step: number;
  readonly agg: Agg;
  /** Only these listeners; undefined = all. */
  readonly listeners?: ReadonlySet<string>;
}

export type Values = (number | null)[];

export interface BackendHistory {
  key: string;
  connections: Values;
  active: Values;
  connect_failures: Values;
  bytes_up: Values;
  bytes_down: Values;
  state: (BackendState | null)[];
}

export interface ListenerHistory {
  address: string;
  /** false once the listener left the routing (kept until its data ages out) */
  live: boolean;
  connections: Values;
  active: Values;
  connect_failures: Values;
  refused: Values;
  bytes_up: Values;
  bytes_down: Values;
  backends: BackendHistory[];
}

export interface HistoryResult {
  since: number;
  until: number;
  step: number;
  agg: Agg;
  retention_seconds: number;
  t: number[];
  totals: Omit<ListenerHistory, "address" | "live" | "backends">;
  listeners: ListenerHistory[];
  providers: { name: string; updates: Values; errors: Values }[];
  events: HistoryEvent[];
  series: { count: number; limit: number; dropped: number; bytes: number };
}

export interface History {
  /** Records the snapshot as the sample of second floor(nowMs / 1000). */
  observe(nowMs: number, snap: Snapshot): void;
  query(q: HistoryQuery): HistoryResult;
  /** The window: [first second kept, last second written]. */
  readonly retentionSeconds: number;
  /** The second last written, or -1. */
  readonly lastSecond: number;
  /** Typed-array bytes held now (rings of every series and the totals). */
  bytes(): number;
  seriesCount(): number;
}
