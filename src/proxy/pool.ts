// Pool: the backends one service (or a plain listener's services together) balances over: its
// settings, strategy, live backends, and the host names kept resolved. A plain listener has one
// pool; a listener routing by TLS server name has one per service.
import type { BackendPlan, ServiceSettings } from "../routing/types.ts";
import type { Strategy } from "../balancer/types.ts";
import { createStrategy } from "../balancer/create.ts";
import { hashIds } from "../balancer/groups.ts";
import type { DialOptions } from "../net/dial.ts";
import { LiveBackend } from "./backend.ts";
import { expandBackends, needsResolution } from "./expand.ts";
import type { Resolver } from "./resolver.ts";

export interface PoolOptions {
  /** Expands backend host names to their addresses; names are dialed as they are without it. */
  resolver?: Resolver;
  /** Called after the pool changed (plan update, DNS change): health checks follow it. */
  onChanged?: (p: Pool) => void;
  /** Whether the listener is draining (a DNS change then no longer re-syncs). */
  draining: () => boolean;
  /** A backend of another pool of the same listener to keep (its counters, drain, health). */
  adopt?: (bp: BackendPlan) => LiveBackend | undefined;
}

export class Pool {
  /** Identity for health checks: the listener key, or "KEY/SERVICE" on an SNI listener. */
  readonly id: string;
  /** The service on an SNI listener; undefined for a plain listener's single pool. */
  readonly service: string | undefined;
  settings: ServiceSettings;
  strategy: Strategy;
  /** The options of every dial to a backend, made once per plan rather than per connection. */
  dialOptions: DialOptions;
  /** Connections this pool took: open now, and in all. */
  readonly connections = { active: 0, total: 0 };
  /** Fail-open is logged when it starts, not for every connection. */
  failingOpen = false;
  /** Current pool, by backend key, in plan order. */
  backends = new Map<string, LiveBackend>();
  /** `backends` as an array, rebuilt with the pool rather than on every connection. */
  candidates: LiveBackend[] = [];
  /** Backends removed from the plan that still carry connections. */
  readonly retired = new Set<LiveBackend>();
  #plans: readonly BackendPlan[];
  #o: PoolOptions;
  /** Backend host names being kept resolved, with the function that stops each watch. */
  readonly #watches = new Map<string, () => void>();

  constructor(
    id: string,
    service: string | undefined,
    settings: ServiceSettings,
    backends: readonly BackendPlan[],
    o: PoolOptions,
  ) {
    this.id = id;
    this.service = service;
    this.settings = settings;
    this.#plans = backends;
    this.#o = o;
    this.strategy = createStrategy(settings.balance, { hashKey: settings.hashKey });
    this.dialOptions = { timeoutMs: settings.connectTimeoutMs };
    this.#sync();
  }

  /** New settings and backends: the pool follows, open connections are untouched. */
  update(settings: ServiceSettings, backends: readonly BackendPlan[]): void {
    const s = this.settings;
    this.settings = settings;
    this.#plans = backends;
    if (
      s.balance !== settings.balance ||
      JSON.stringify(s.hashKey) !== JSON.stringify(settings.hashKey)
    ) {
      this.strategy = createStrategy(settings.balance, { hashKey: settings.hashKey });
    }
    this.dialOptions = { timeoutMs: settings.connectTimeoutMs };
    this.#sync();
  }

  #sync(): void {
    this.#watchNames();
    const resolver = this.#o.resolver;
    const plans = resolver ? expandBackends(this.#plans, (h) => resolver.cached(h)) : this.#plans;
    const next = new Map<string, LiveBackend>();
    for (const bp of plans) {
      let b = this.backends.get(bp.key) ?? this.#retiredByKey(bp.key);
      if (b) {
        this.retired.delete(b);
        b.removed = false;
        b.replan(bp);
      } else {
        b = this.#o.adopt?.(bp);
        if (b) {
          b.removed = false;
          b.replan(bp);
        } else b = new LiveBackend(bp);
      }
      next.set(bp.key, b);
    }
    for (const [key, b] of this.backends) {
      if (next.has(key)) continue;
      b.removed = true;
      if (b.counters.active > 0) this.retired.add(b);
    }
    this.backends = next;
    this.candidates = [...next.values()];
    const ids = hashIds(this.candidates.map((b) => b.plan));
    this.candidates.forEach((b, i) => b.hashId = ids[i]);
    this.#o.onChanged?.(this);
  }

  #retiredByKey(key: string): LiveBackend | undefined {
    if (this.retired.size === 0) return undefined;
    for (const r of this.retired) if (r.key === key) return r;
    return undefined;
  }

  /** Keeps every backend host name of the plan resolved; a change of addresses re-syncs. */
  #watchNames(): void {
    const resolver = this.#o.resolver;
    if (!resolver) return;
    const names = new Set<string>();
    for (const b of this.#plans) if (needsResolution(b)) names.add(b.host);
    for (const [name, stop] of this.#watches) {
      if (names.has(name)) continue;
      stop();
      this.#watches.delete(name);
    }
    for (const name of names) {
      if (this.#watches.has(name)) continue;
      this.#watches.set(
        name,
        resolver.watch(name, () => {
          if (!this.#o.draining()) this.#sync();
        }),
      );
    }
  }

  /** Stops keeping names resolved (the listener closed, or this pool left the plan). */
  unwatch(): void {
    for (const stop of this.#watches.values()) stop();
    this.#watches.clear();
  }

  /** The pool left the plan: its backends take no new connections, open ones go on. */
  remove(): void {
    this.unwatch();
    for (const b of this.backends.values()) {
      b.removed = true;
      if (b.counters.active > 0) this.retired.add(b);
    }
    this.backends = new Map();
    this.candidates = [];
  }

  /** A backend that was retired and whose last connection ended is forgotten. */
  backendDone(b: LiveBackend): void {
    if (b.removed && b.counters.active === 0) this.retired.delete(b);
  }
}
