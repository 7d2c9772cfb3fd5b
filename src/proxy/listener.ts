// LiveListener: one listening address while it is routed. It binds (and retries a failed
// bind), keeps the backend pool in step with its plan, and drains its connections when removed.
import type { Conn, Listener, Runtime } from "../runtime/types.ts";
import type { ListenerPlan } from "../routing/types.ts";
import type { Strategy } from "../balancer/types.ts";
import { createStrategy } from "../balancer/create.ts";
import { hashIds } from "../balancer/groups.ts";
import { errorCode, errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";
import { LiveBackend } from "./backend.ts";
import { createCidrMatcher } from "../net/cidr.ts";
import { type ActiveConnection, closeConnection } from "./active_connection.ts";
import { expandBackends, needsResolution } from "./expand.ts";
import type { Resolver } from "./resolver.ts";
import type { DialOptions } from "../net/dial.ts";
import type { ListenerCounters, ListenerState, ListenerView } from "./types.ts";

export interface LiveListenerOptions {
  rt: Runtime;
  log: Logger;
  bindRetryMs: () => number;
  reusePort: boolean;
  onConn: (l: LiveListener, c: Conn) => void;
  /** Expands backend host names to their addresses; names are dialed as they are without it. */
  resolver?: Resolver;
  /** Called after the pool changed (plan update, DNS change): health checks follow it. */
  onPoolChanged?: (l: LiveListener) => void;
}

export class LiveListener {
  plan: ListenerPlan;
  state: ListenerState = "pending";
  error: string | undefined;
  strategy: Strategy;
  /** Sources allowed to send a PROXY header (accept_proxy_protocol). */
  trusted: (ip: string) => boolean;
  /** Fail-open is logged when it starts, not for every connection. */
  failingOpen = false;
  /** The options of every dial to a backend, made once per plan rather than per connection. */
  dialOptions: DialOptions;
  readonly counters: ListenerCounters = {
    active: 0,
    total: 0,
    refused: 0,
    bytesUp: 0,
    bytesDown: 0,
  };
  /** Current pool, by backend key, in plan order. */
  backends = new Map<string, LiveBackend>();
  /** `backends` as an array, rebuilt with the pool rather than on every connection. */
  candidates: LiveBackend[] = [];
  /** Backends removed from the plan that still carry connections. */
  readonly retired = new Set<LiveBackend>();
  readonly conns = new Set<ActiveConnection>();
  #o: LiveListenerOptions;
  #socket: Listener | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #onIdle: (() => void) | undefined;
  /** Backend host names being kept resolved, with the function that stops each watch. */
  readonly #watches = new Map<string, () => void>();

  constructor(plan: ListenerPlan, o: LiveListenerOptions) {
    this.plan = plan;
    this.#o = o;
    this.strategy = createStrategy(plan.settings.balance, { hashKey: plan.settings.hashKey });
    this.trusted = createCidrMatcher(plan.accept.trustedProxies);
    this.dialOptions = { timeoutMs: plan.settings.connectTimeoutMs };
    this.#syncBackends();
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

  /** Take a new plan for the same address: the pool follows, open connections are untouched. */
  update(plan: ListenerPlan): void {
    const s = this.plan.settings;
    const n = plan.settings;
    this.plan = plan;
    if (s.balance !== n.balance || JSON.stringify(s.hashKey) !== JSON.stringify(n.hashKey)) {
      this.strategy = createStrategy(n.balance, { hashKey: n.hashKey });
    }
    this.trusted = createCidrMatcher(plan.accept.trustedProxies);
    this.dialOptions = { timeoutMs: n.connectTimeoutMs };
    this.#syncBackends();
  }

  #syncBackends(): void {
    this.#watchNames();
    const resolver = this.#o.resolver;
    const plans = resolver
      ? expandBackends(this.plan.backends, (h) => resolver.cached(h))
      : this.plan.backends;
    const next = new Map<string, LiveBackend>();
    for (const bp of plans) {
      let b = this.backends.get(bp.key) ?? this.#retiredByKey(bp.key);
      if (b) {
        this.retired.delete(b);
        b.removed = false;
        b.replan(bp);
      } else b = new LiveBackend(bp);
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
    this.#o.onPoolChanged?.(this);
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
    for (const b of this.plan.backends) if (needsResolution(b)) names.add(b.host);
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
          if (this.state !== "draining") this.#syncBackends();
        }),
      );
    }
  }

  #unwatchNames(): void {
    for (const stop of this.#watches.values()) stop();
    this.#watches.clear();
  }

  /** A backend that was retired and whose last connection ended is forgotten. */
  backendDone(b: LiveBackend): void {
    if (b.removed && b.counters.active === 0) this.retired.delete(b);
  }

  /** Stop accepting at once; connections may finish for drainMs, then they are closed. */
  retire(drainMs: number, onDone: () => void): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#closeSocket();
    this.#unwatchNames();
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
      backends: [...this.backends.values()].map((x) => x.view()),
    };
  }
}
