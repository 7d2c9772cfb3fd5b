// LiveListener: one listening address while it is routed. It binds (and retries a failed
// bind), keeps its pools in step with its plan (one pool, or one per service when the listener
// routes by TLS server name), and drains its connections when removed.
import type { Conn, Listener, Runtime } from "../runtime/types.ts";
import type { BackendPlan, ListenerPlan } from "../routing/types.ts";
import { compileSniMatcher, type SniMatcher } from "../routing/sni_match.ts";
import { errorCode, errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { LiveBackend } from "./backend.ts";
import { Pool, type PoolOptions } from "./pool.ts";
import { createCidrMatcher } from "../net/cidr.ts";
import { type ActiveConnection, closeConnection } from "./active_connection.ts";
import type { Resolver } from "./resolver.ts";
import type { ListenerCounters, ListenerState, ListenerView, SniView } from "./types.ts";

export interface LiveListenerOptions {
  rt: Runtime;
  log: Logger;
  bindRetryMs: () => number;
  reusePort: boolean;
  onConn: (l: LiveListener, c: Conn) => void;
  /** Expands backend host names to their addresses; names are dialed as they are without it. */
  resolver?: Resolver;
  /** Called after a pool changed (plan update, DNS change): health checks follow it. */
  onPoolChanged?: (l: LiveListener, p: Pool) => void;
  /** Called when a pool leaves the plan (its health checks stop). */
  onPoolRemoved?: (l: LiveListener, p: Pool) => void;
}

/** How a listener whose services set `sni` picks a pool per connection. */
export interface SniRouting {
  readonly matcher: SniMatcher<Pool>;
  readonly timeoutMs: number;
}

export class LiveListener {
  plan: ListenerPlan;
  state: ListenerState = "pending";
  error: string | undefined;
  /** Sources allowed to send a PROXY header (accept_proxy_protocol). */
  trusted: (ip: string) => boolean;
  readonly counters: ListenerCounters = {
    active: 0,
    total: 0,
    refused: 0,
    bytesUp: 0,
    bytesDown: 0,
  };
  /** SNI listeners: connections no service took, and ClientHellos that did not arrive in time. */
  readonly sniCounters = { unmatched: 0, timeouts: 0 };
  /** The pools in plan order: one, or one per service of an SNI listener. */
  pools: Pool[] = [];
  /** The single pool of a plain listener; the first of an SNI listener. */
  main!: Pool;
  /** Set when the plan routes by TLS server name: the ClientHello picks the pool. */
  sni: SniRouting | undefined;
  readonly conns = new Set<ActiveConnection>();
  #o: LiveListenerOptions;
  #socket: Listener | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #onIdle: (() => void) | undefined;
  constructor(plan: ListenerPlan, o: LiveListenerOptions) {
    this.plan = plan;
    this.#o = o;
    this.trusted = createCidrMatcher(plan.accept.trustedProxies);
    this.#syncPools();
  }

  get key(): string {
    return this.plan.key;
  }

  /** Bind now; on failure report bind_failed and retry every bind_retry. */
  bind(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    if (this.state === "draining") return;
    try {
      this.#socket = this.#o.rt.listen(
        { host: this.plan.host, port: this.plan.port, reusePort: this.#o.reusePort },
        (c) => this.#o.onConn(this, c),
      );
      if (this.state === "bind_failed") {
        this.#o.log.info("listener bound after retry", { listener: this.key });
      } else {
        this.#o.log.info("listener opened", {
          listener: this.key,
          services: this.plan.services.join(","),
        });
      }
      this.state = "listening";
      this.error = undefined;
    } catch (err) {
      const reason = `${errorCode(err)}: ${errorMessage(err)}`;
      // Log a failure once, and again only when its reason changes.
      if (this.state !== "bind_failed" || this.error !== reason) {
        this.#o.log.warn("listener bind failed", {
          listener: this.key,
          error: reason,
          retry_ms: this.#o.bindRetryMs(),
        });
      }
      this.state = "bind_failed";
      this.error = reason;
      this.#retry = setTimeout(() => this.bind(), this.#o.bindRetryMs());
    }
  }

  /** Take a new plan for the same address: the pools follow, open connections are untouched. */
  update(plan: ListenerPlan): void {
    this.plan = plan;
    this.trusted = createCidrMatcher(plan.accept.trustedProxies);
    this.#syncPools();
  }

  /** Every backend of every pool, e.g. for views. */
  allBackends(): LiveBackend[] {
    if (this.pools.length === 1) return this.main.candidates;
    return this.pools.flatMap((p) => p.candidates);
  }

  #newPool(service: string | undefined, plan: ListenerPlan, adopt?: PoolOptions["adopt"]): Pool {
    const r = service === undefined
      ? undefined
      : plan.sni?.routes.find((x) => x.service === service);
    return new Pool(
      service === undefined ? this.key : `${this.key}/${service}`,
      service,
      r ? r.settings : plan.settings,
      r ? r.backends : plan.backends,
      {
        ...(this.#o.resolver ? { resolver: this.#o.resolver } : {}),
        onChanged: (p) => this.#o.onPoolChanged?.(this, p),
        draining: () => this.state === "draining",
        ...(adopt ? { adopt } : {}),
      },
    );
  }

  /** Pools follow the plan: kept by service (plain: the one pool), created, or removed. */
  #syncPools(): void {
    const plan = this.plan;
    const old = this.pools;
    const wanted: (string | undefined)[] = plan.sni && plan.sni.routes.length > 0
      ? plan.sni.routes.map((r) => r.service)
      : [undefined];
    const keep = new Map<string | undefined, Pool>();
    for (const p of old) if (wanted.includes(p.service)) keep.set(p.service, p);
    // Backends of pools that go, by service and key, so that a mode change keeps counters.
    let spare: Map<string, LiveBackend> | undefined;
    for (const p of old) {
      if (keep.get(p.service) === p) continue;
      spare ??= new Map();
      for (const b of p.candidates) spare.set(`${b.plan.service}\u0000${b.key}`, b);
      p.remove();
      this.#o.onPoolRemoved?.(this, p);
    }
    const adopt = spare
      ? (bp: BackendPlan) => {
        const k = `${bp.service}\u0000${bp.key}`;
        const b = spare!.get(k);
        spare!.delete(k);
        return b;
      }
      : undefined;
    const pools: Pool[] = [];
    for (const service of wanted) {
      const p = keep.get(service);
      if (!p) {
        pools.push(this.#newPool(service, plan, adopt));
        continue;
      }
      const r = service === undefined
        ? undefined
        : plan.sni?.routes.find((x) => x.service === service);
      p.update(r ? r.settings : plan.settings, r ? r.backends : plan.backends);
      pools.push(p);
    }
    this.pools = pools;
    this.main = pools[0]!;
    if (plan.sni && plan.sni.routes.length > 0) {
      const routes = plan.sni.routes;
      // The table builder already dropped conflicting names: no problems here.
      const { matcher } = compileSniMatcher(
        routes.map((r, i) => ({ service: pools[i]!, label: r.service, sni: r.names })),
      );
      this.sni = { matcher, timeoutMs: plan.sni.timeoutMs };
    } else this.sni = undefined;
  }

  /** Stop accepting at once; connections may finish for drainMs, then they are closed. */
  retire(drainMs: number, onDone: () => void): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#closeSocket();
    for (const p of this.pools) p.unwatch();
    this.state = "draining";
    this.#o.log.info("listener closed", { listener: this.key, open_connections: this.conns.size });
    this.#onIdle = () => {
      clearTimeout(this.#drainTimer);
      onDone();
    };
    if (this.conns.size === 0) return this.#onIdle();
    this.#drainTimer = setTimeout(() => {
      if (this.conns.size) {
        this.#o.log.info("drain timeout: closing connections", {
          listener: this.key,
          connections: this.conns.size,
        });
      }
      for (const c of this.conns) closeConnection(c);
    }, drainMs);
  }

  connectionDone(c: ActiveConnection): void {
    this.conns.delete(c);
    if (this.conns.size === 0 && this.#onIdle) {
      const done = this.#onIdle;
      this.#onIdle = undefined;
      done();
    }
  }

  #closeSocket(): void {
    try {
      this.#socket?.close();
    } catch { /* already closed */ }
    this.#socket = undefined;
  }

  /** Bytes including the connections still open. */
  bytes(): { up: number; down: number } {
    let up = this.counters.bytesUp;
    let down = this.counters.bytesDown;
    for (const c of this.conns) {
      up += c.up;
      down += c.down;
    }
    return { up, down };
  }

  view(): ListenerView {
    const b = this.bytes();
    return {
      key: this.key,
      label: this.plan.label,
      host: this.plan.host,
      port: this.plan.port,
      state: this.state,
      ...(this.error ? { error: this.error } : {}),
      services: this.plan.services,
      balance: this.plan.settings.balance,
      plan: this.plan,
      counters: { ...this.counters, bytesUp: b.up, bytesDown: b.down },
      backends: this.allBackends().map((x) => x.view()),
      ...(this.sni ? { sni: this.#sniView(this.sni) } : {}),
    };
  }

  #sniView(s: SniRouting): SniView {
    return {
      timeoutMs: s.timeoutMs,
      routes: this.pools.map((p) => ({
        service: p.service ?? "",
        names: this.plan.sni?.routes.find((r) => r.service === p.service)?.names ?? [],
        active: p.connections.active,
        total: p.connections.total,
      })),
      unmatched: this.sniCounters.unmatched,
      timeouts: this.sniCounters.timeouts,
    };
  }
}
