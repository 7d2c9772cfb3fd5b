// The proxy engine: reconciles listeners with the routing table, hands each accepted
// connection to the connection handler, and drains on removal and shutdown.
// It never parses documents; it only runs the table it is given.
import type { Conn, Runtime } from "../runtime/types.ts";
import type { ListenerPlan, ProxyUrl, RoutingTable } from "../routing/types.ts";
import type { Logger } from "../log.ts";
import { LiveBackend } from "./backend.ts";
import { type ConnectionContext, handleConnection } from "./connection.ts";
import { createDirectDialer } from "./direct_dialer.ts";
import { LiveListener, type LiveListenerOptions } from "./listener.ts";
import type { Pool } from "./pool.ts";
import { createResolver, type Resolver } from "./resolver.ts";
import { createHealthMonitor, type SavedHealth } from "../health/monitor.ts";
import type { HealthState } from "../health/types.ts";
import type { Dialer } from "../net/dial.ts";
import type { EngineControl, EngineObserver, ListenerView } from "./types.ts";
import { DEFAULTS } from "../defaults.ts";
import { createStickTable, type StickTable } from "../balancer/stick_table.ts";
import { splitStickKey } from "./stick.ts";

export interface EngineOptions {
  rt: Runtime;
  log: Logger;
  /** @default DEFAULTS.listeners.drainTimeoutMs */
  drainTimeoutMs?: number;
  /** @default DEFAULTS.listeners.bindRetryMs */
  bindRetryMs?: number;
  /** A half-closed connection idle this long is closed; 0 = never. @default 300000 */
  halfCloseTimeoutMs?: number;
  /** One line per finished connection. @default true */
  accessLog?: boolean;
  /** SO_REUSEPORT, for runtime.workers > 1. @default false */
  reusePort?: boolean;
  observer?: EngineObserver;
  /** How to reach backends behind a proxy URL; without it such backends cannot be dialed. */
  proxyDialer?: (proxy: ProxyUrl) => Dialer;
  /** How backends without a proxy URL are reached (tests inject faults). @default rt.connect */
  directDialer?: Dialer;
  /** Expands backend host names (tests inject lookups). @default a DNS resolver of its own */
  resolver?: Resolver;
  /** Health states saved before a restart (see healthStates()). */
  restoredHealth?: ReadonlyMap<string, SavedHealth>;
  /** The stick table (tests inject a clock; the app restores it from the state file). */
  stickTable?: StickTable;
}

export interface Engine extends EngineControl {
  /** Every backend's health from active checks (for the state file); unknown ones left out. */
  healthStates(): { listener: string; backend: string; state: HealthState; disabled: boolean }[];
  /** Make the listeners match the table: open new ones, update changed ones, drain removed ones. */
  apply(table: RoutingTable): void;
  /** Change timings and logging after a config reload; applies to what happens next. */
  configure(
    o: {
      drainTimeoutMs?: number;
      bindRetryMs?: number;
      halfCloseTimeoutMs?: number;
      accessLog?: boolean;
    },
  ): void;
  /** Stop accepting everywhere, let connections finish for drain_timeout, then close them. */
  shutdown(): Promise<void>;
}

export function createEngine(o: EngineOptions): Engine {
  const log = o.log;
  let drainTimeoutMs = o.drainTimeoutMs ?? DEFAULTS.listeners.drainTimeoutMs;
  let bindRetryMs = o.bindRetryMs ?? DEFAULTS.listeners.bindRetryMs;
  const active = new Map<string, LiveListener>();
  /** Removed listeners whose connections may still finish, with the promise of their end. */
  const draining = new Map<LiveListener, Promise<void>>();
  const direct = o.directDialer ?? createDirectDialer(o.rt);
  const proxyDialers = new Map<string, Dialer>();
  let stopped = false;
  /** The table applied last, so that a table built on it can be applied by its changed keys. */
  let applied: RoutingTable | undefined;
  const resolver = o.resolver ?? createResolver({ log: log.child("dns") });
  const health = createHealthMonitor({ rt: o.rt, log: log.child("health") });
  /** Health saved before a restart, by "<listener>\u0000<backend key>", used once. */
  const restored = o.restoredHealth ? new Map(o.restoredHealth) : undefined;

  const ctx: ConnectionContext = {
    rt: o.rt,
    log,
    access: log.child("access"),
    accessLog: o.accessLog ?? true,
    halfCloseTimeoutMs: o.halfCloseTimeoutMs ?? DEFAULTS.listeners.halfCloseTimeoutMs,
    observer: o.observer,
    stick: o.stickTable ?? createStickTable(),
    dialerFor(b: LiveBackend): Dialer {
      // Found once per backend; the pool resets it when the backend's proxy URL changes.
      return b.dialer ??= findDialer(b);
    },
  };

  function findDialer(b: LiveBackend): Dialer {
    const proxy = b.plan.proxy;
    if (!proxy) return direct;
    if (!o.proxyDialer) throw new Error("no proxy dialer configured");
    // The password is part of the identity: two services may use one proxy as different users.
    const id = JSON.stringify(proxy);
    let d = proxyDialers.get(id);
    if (!d) proxyDialers.set(id, d = o.proxyDialer(proxy));
    return d;
  }

  function onConn(l: LiveListener, c: Conn): void {
    void handleConnection(ctx, l, c);
  }

  /** Active checks follow each pool: started, restarted or stopped per backend. */
  function syncHealth(l: LiveListener, p: Pool): void {
    if (l.state === "draining") return;
    const spec = p.settings.health;
    // Cheap exit for the common case of a pool without checks that never had any.
    if (!spec && !health.has(p.id)) return;
    health.sync(
      p.id,
      spec,
      p.candidates.map((b) => {
        const id = `${p.id}\u0000${b.key}`;
        const initial = restored?.get(id);
        restored?.delete(id);
        return {
          key: b.key,
          host: b.plan.host,
          port: b.plan.port,
          dialer: ctx.dialerFor(b),
          ...(initial ? { initial } : {}),
          setHealth: (state: HealthState) => {
            b.health = state;
          },
          setDisabled: (on: boolean) => {
            b.healthDisabled = on;
          },
        };
      }),
    );
  }

  /** What every listener is given: one object, not two new closures per listener. */
  const listenerOptions: LiveListenerOptions = {
    rt: o.rt,
    log,
    bindRetryMs: () => bindRetryMs,
    reusePort: o.reusePort ?? false,
    onConn,
    resolver,
    onPoolChanged: syncHealth,
    onPoolRemoved: (_l, p) => health.drop(p.id),
  };

  /** Makes the listener at `key` match `plan`: opened, updated, or retired when absent. */
  function applyKey(key: string, plan: ListenerPlan | undefined): void {
    const l = active.get(key);
    if (!plan) {
      if (l) retire(l);
      return;
    }
    if (l) {
      // The table builder hands back the same plan object for an unchanged listener.
      if (l.plan !== plan) l.update(plan);
      return;
    }
    const created = new LiveListener(plan, listenerOptions);
    active.set(key, created);
    created.bind();
  }

  function retire(l: LiveListener): void {
    active.delete(l.key);
    for (const p of l.pools) health.drop(p.id);
    // The entry is stored before the listener retires: one without open connections calls
    // back at once, and a callback that ran before the store would leave it draining forever
    // (issue 12, bug 3: thousands of phantom listeners after routing churn).
    let done!: () => void;
    draining.set(l, new Promise<void>((resolve) => done = resolve));
    l.retire(drainTimeoutMs, () => {
      draining.delete(l);
      done();
    });
  }

  /**
   * The backends `backend` names on a listener: by key; by address when only one backend has it
   * (the same address behind two proxies needs the key); or by the host name they were expanded
   * from (drain "db.internal:5432" drains each of its addresses).
   */
  function findBackends(listener: string, backend: string): LiveBackend[] {
    const l = active.get(listener) ??
      [...active.values()].find((x) => `${x.plan.label}:${x.plan.port}` === listener);
    if (!l) return [];
    // On an SNI listener one address may be a backend of several services: each is named.
    const found: LiveBackend[] = [];
    for (const p of l.pools) found.push(...findInPool(p, backend));
    return found;
  }

  function findInPool(p: Pool, backend: string): LiveBackend[] {
    const byKey = p.backends.get(backend);
    if (byKey) return [byKey];
    const byAddress = p.candidates.filter((b) => b.plan.address === backend);
    if (byAddress.length > 0) return byAddress.length === 1 ? byAddress : [];
    return p.candidates.filter((b) => b.key.startsWith(`${backend}=`));
  }

  return {
    apply(table) {
      if (stopped) return;
      // A table built on the one applied last names the keys where they differ: a change in a
      // table of thousands of listeners then costs only the listeners it touched.
      const delta = table.changedSince;
      if (delta && applied && delta.base.deref() === applied) {
        for (const key of delta.keys) applyKey(key, table.listeners.get(key));
      } else {
        for (const [key, l] of active) {
          if (!table.listeners.has(key)) retire(l);
        }
        for (const [key, plan] of table.listeners) applyKey(key, plan);
      }
      applied = table;
    },
    configure(c) {
      if (c.drainTimeoutMs !== undefined) drainTimeoutMs = c.drainTimeoutMs;
      if (c.bindRetryMs !== undefined) bindRetryMs = c.bindRetryMs;
      if (c.accessLog !== undefined) ctx.accessLog = c.accessLog;
      if (c.halfCloseTimeoutMs !== undefined) ctx.halfCloseTimeoutMs = c.halfCloseTimeoutMs;
    },
    async shutdown() {
      stopped = true;
      for (const l of [...active.values()]) retire(l);
      health.close();
      resolver.close();
      await Promise.all(draining.values());
    },
    healthStates() {
      const out: { listener: string; backend: string; state: HealthState; disabled: boolean }[] =
        [];
      for (const l of active.values()) {
        // "listener" is the pool's id: the listener key, or "KEY/SERVICE" on an SNI listener.
        for (const p of l.pools) {
          for (const b of p.candidates) {
            if (b.health === "unknown" && !b.healthDisabled) continue;
            out.push({
              listener: p.id,
              backend: b.key,
              state: b.health,
              disabled: b.healthDisabled,
            });
          }
        }
      }
      return out;
    },
    stickEntries() {
      return ctx.stick.entries().map((e) => ({
        ...splitStickKey(e.key),
        backend: e.backend,
        usedMs: e.usedMs,
        expiresMs: e.usedMs + e.expirationMs,
      }));
    },
    unstick(service, client) {
      if (service === undefined && client === undefined) return ctx.stick.clear();
      let n = 0;
      for (const e of ctx.stick.entries()) {
        const k = splitStickKey(e.key);
        if (
          (service === undefined || k.service === service) &&
          (client === undefined || k.client === client)
        ) {
          if (ctx.stick.delete(e.key)) n++;
        }
      }
      return n;
    },
    listeners(): ListenerView[] {
      const views = [...active.values(), ...draining.keys()].map((l) => l.view());
      return views.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
    },
    setDrain(listener, backend, drain) {
      const found = findBackends(listener, backend);
      for (const b of found) {
        b.drainOverride = drain;
        log.info(drain ? "backend drained" : "backend undrained", {
          listener,
          backend: b.plan.address,
        });
      }
      return found.length > 0;
    },
  };
}
