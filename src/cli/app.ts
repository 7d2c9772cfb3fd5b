// The running sluice: wires config, providers, the routing table, the engine, peek and admin,
// and owns the process lifecycle (reload on SIGHUP/SIGUSR1, drain and exit on SIGTERM/SIGINT).
import type { Config } from "../config/types.ts";
import type { Runtime } from "../runtime/types.ts";
import type { ProviderRoutes, RouteProblem, ServiceSpec } from "../routing/types.ts";
import { tableConfigFrom } from "../config/table_config.ts";
import { createTableBuilder } from "../routing/table_builder.ts";
import type { Provider, ProviderStatus } from "../providers/types.ts";
import { createProviders } from "../providers/create.ts";
import { createStaticProvider } from "../providers/static.ts";
import { createEngine, type Engine } from "../proxy/engine.ts";
import { createResolver } from "../proxy/resolver.ts";
import { createSocks5Dialer } from "../socks5/dialer.ts";
import { startPeek } from "../admin/peek.ts";
import { startAdmin } from "../admin/server.ts";
import { createRebinder } from "../admin/rebind.ts";
import { createMetrics } from "../admin/metrics.ts";
import { createHistoryKeeper } from "../admin/history/keeper.ts";
import { configureLogging, type Logger, rootLogger } from "../log.ts";
import { errorMessage } from "../errors.ts";
import { VERSION } from "../version.ts";
import { installCrashGuard } from "./crash_guard.ts";
import { formatHostPort } from "../net/host_port.ts";
import { workersRoute } from "../admin/workers_route.ts";
import { createGroupEngine } from "./group.ts";
import { serveWorkerLink } from "./worker_link.ts";
import type { WorkerPool } from "./workers.ts";
import { openState } from "./state_file.ts";
import { serviceSummaries } from "./service_summary.ts";

export interface AppOptions {
  rt: Runtime;
  config: Config;
  /** Re-reads the main config on SIGHUP/SIGUSR1 (flags and environment applied again). */
  reloadConfig?: () => Promise<Config>;
  /** Services from `--forward` flags. */
  forwards?: readonly ServiceSpec[];
  /** SO_REUSEPORT listeners (worker processes). */
  reusePort?: boolean;
  /** Whether this process serves peek and admin (worker processes do not). @default true */
  control?: boolean;
  /** Called once the app runs and its signal handlers are installed (pid file). */
  ready?: () => void;
  /** The primary's workers: admin, peek and /metrics then show the whole group. */
  pool?: WorkerPool;
  /** A worker: answers the primary over IPC and stops when the primary is gone. */
  workerLink?: boolean;
  log?: Logger;
}

export interface App {
  readonly engine: Engine;
  providers(): readonly ProviderStatus[];
  /** Re-read the config and every file provider; keeps the running config if the new one is invalid. */
  reload(): Promise<void>;
  /** Drain and stop; resolves when everything is closed. */
  stop(): Promise<void>;
  /** The admin API's bound port, when it runs. */
  readonly adminPort: number | undefined;
  /** The peek endpoint's bound port, when it runs. */
  readonly peekPort: number | undefined;
  /** This process's own /metrics text (a worker's part of the group's). */
  metricsText(): string;
}

function problemText(p: RouteProblem): string {
  return `${p.source}|${p.service}|${p.field}|${p.reason}`;
}

export function applyLogConfig(config: Config): void {
  configureLogging({ level: config.log.level, format: config.log.format });
}

export async function startApp(o: AppOptions): Promise<App> {
  const rt = o.rt;
  const log = o.log ?? rootLogger;
  const control = o.control ?? true;
  let config = o.config;
  applyLogConfig(config);
  const metrics = createMetrics();
  // runtime.state_file: the stick table and health restored, saved at intervals.
  const state = await openState(config.runtime, log.child("state"));
  const engine = createEngine({
    ...state.engineOptions,
    rt,
    log: log.child("proxy"),
    drainTimeoutMs: config.listeners.drainTimeoutMs,
    bindRetryMs: config.listeners.bindRetryMs,
    halfCloseTimeoutMs: config.listeners.halfCloseTimeoutMs,
    accessLog: config.log.access,
    reusePort: o.reusePort ?? false,
    observer: metrics,
    proxyDialer: (proxy) => createSocks5Dialer({ rt, proxy }),
    // Read at start: a reload does not change how often TTL-less names are re-resolved.
    resolver: createResolver({
      log: log.child("proxy").child("dns"),
      noTtlMs: config.dns.refreshWithoutTtlMs,
    }),
  });

  // runtime.workers > 1, in the primary: the group as one (src/cli/group.ts).
  const group = o.pool
    ? createGroupEngine({ local: engine, pool: o.pool, log: log.child("workers") })
    : undefined;
  const view = group ?? engine;
  const groupMetrics = group ? group.metrics(metrics) : metrics;

  const saver = state.startSaver(() => engine.healthStates());

  const routes = new Map<string, readonly ServiceSpec[]>();
  // Rebuilds reuse the previous build's work: one edit among thousands of listeners stays cheap.
  const tables = createTableBuilder();
  let providers: Provider[] = [];
  let logged = new Set<string>();
  const routingLog = log.child("routing");

  function rebuild(): void {
    const all: ProviderRoutes[] = [...routes].map(([provider, services]) => ({
      provider,
      services,
    }));
    const { table, problems } = tables.build(all, tableConfigFrom(config));
    // A problem is logged when it appears, not again at every rebuild.
    const now = new Set<string>();
    for (const p of problems) {
      const key = problemText(p);
      now.add(key);
      if (!logged.has(key)) {
        routingLog.warn("route dropped or adjusted", {
          service: p.service,
          field: p.field,
          reason: p.reason,
          source: p.source,
        });
      }
    }
    logged = now;
    engine.apply(table);
  }

  /** Providers whose first routes were summarised (tcpproxy's start lines). */
  const summarised = new Set<string>();
  function summarise(provider: string, services: readonly ServiceSpec[]): void {
    if (summarised.has(provider)) return;
    summarised.add(provider);
    for (const line of serviceSummaries(services)) {
      log.info("service", { provider, ...line });
    }
  }

  function startProvider(p: Provider): void {
    p.start((services) => {
      if (!providers.includes(p)) return; // replaced by a reload
      if (control) summarise(p.name, services);
      routes.set(p.name, services);
      rebuild();
    });
  }

  function makeProviders(c: Config): Provider[] {
    const list = createProviders({ config: c, rt, log: log.child("provider") });
    if (o.forwards?.length) list.push(createStaticProvider("forward", o.forwards));
    return list;
  }

  providers = makeProviders(config);
  if (providers.length === 0) {
    log.info("no routing provider and no --forward: starting with no routes", {
      admin: config.admin.listener || "off",
    });
  }
  for (const p of providers) startProvider(p);
  rebuild();

  // The dashboard's history, kept while the admin API is configured (src/admin/history/keeper.ts).
  const history = createHistoryKeeper({
    engine,
    providers: () => providers.map((p) => p.status()),
  });

  // Admin and peek bind like proxy listeners: retried every bind_retry, and a reload that
  // cannot bind a new address keeps the old endpoint (src/admin/rebind.ts).
  const retryMs = () => config.listeners.bindRetryMs;
  const peek = createRebinder({ name: "peek", log: log.child("peek"), retryMs });
  const admin = createRebinder({ name: "admin", log, retryMs });
  /** Set when shutdown starts: /healthz answers 503 "draining" while connections drain. */
  let draining = false;
  /** Binds what `c` names; resolves with the endpoints that could not be bound now. */
  async function startControl(c: Config): Promise<string[]> {
    if (!control) return [];
    history.keep(Boolean(c.admin.address));
    const failed: string[] = [];
    const peekOk = await peek.set(
      c.peek.address
        ? {
          key: c.peek.listener,
          address: c.peek.listener,
          start: () => {
            const l = startPeek({
              rt,
              address: c.peek.address!,
              view: () => view.listeners(),
              ...(group ? { refresh: () => group.refresh() } : {}),
              log: log.child("peek"),
            });
            return { port: l.addr.port, close: () => l.close() };
          },
        }
        : undefined,
    );
    if (!peekOk) failed.push(`peek.listener ${c.peek.listener}`);
    const adminOk = await admin.set(
      c.admin.address
        ? {
          key: JSON.stringify(c.admin),
          address: c.admin.listener,
          start: async () => {
            const handle = await startAdmin({
              rt,
              listener: c.admin.listener,
              address: c.admin.address,
              ...(group ? { before: (path: string) => group.refresh(path === "/metrics") } : {}),
              deps: {
                engine: view,
                providers: () => providers.map((p) => p.status()),
                metrics: groupMetrics,
                ...(history.current ? { history: history.current } : {}),
                ...(group ? { extraRoutes: [workersRoute(() => group.report())] } : {}),
                token: c.admin.token,
                version: VERSION,
                runtime: `${rt.name} ${rt.version}`,
                draining: () => draining,
              },
            });
            log.info("admin listening", { address: formatHostPort(handle.host, handle.port) });
            return handle;
          },
        }
        : undefined,
    );
    if (!adminOk) failed.push(`admin.listener ${c.admin.listener}`);
    return failed;
  }
  async function stopControl(): Promise<void> {
    await peek.close();
    await admin.close();
  }
  await startControl(config);

  const configLog = log.child("config");
  async function reload(): Promise<void> {
    let next: Config;
    try {
      next = o.reloadConfig ? await o.reloadConfig() : config;
    } catch (err) {
      configLog.error("reload rejected: the running configuration stays", {
        error: errorMessage(err),
      });
      return;
    }
    const prev = config;
    config = next;
    applyLogConfig(next);
    engine.configure({
      drainTimeoutMs: next.listeners.drainTimeoutMs,
      bindRetryMs: next.listeners.bindRetryMs,
      halfCloseTimeoutMs: next.listeners.halfCloseTimeoutMs,
      accessLog: next.log.access,
    });
    // Providers whose settings changed are replaced; the old one's routes stay until the new
    // one delivers, so a reload never closes a listener that is still routed.
    const fresh = makeProviders(next);
    const kept: Provider[] = [];
    for (const p of fresh) {
      const old = providers.find((x) => x.name === p.name);
      const same = old &&
        JSON.stringify(sectionOf(prev, p.name)) === JSON.stringify(sectionOf(next, p.name));
      if (old && same) {
        kept.push(old);
        continue;
      }
      if (old) void old.stop();
      kept.push(p);
    }
    for (const old of providers) {
      if (!kept.includes(old)) {
        void old.stop();
        if (!fresh.some((p) => p.name === old.name)) routes.delete(old.name);
      }
    }
    const started = kept.filter((p) => !providers.includes(p));
    providers = kept;
    for (const p of started) startProvider(p);
    await Promise.all(providers.filter((p) => !started.includes(p)).map((p) => p.reload?.()));
    // Unchanged endpoints are left alone; one that cannot bind keeps the old one and retries.
    const failed = await startControl(next);
    rebuild();
    if (failed.length === 0) {
      configLog.info("configuration reloaded", { source: next.source ?? "defaults" });
    } else {
      configLog.warn("configuration reloaded in part: not bound yet, the old endpoint stays", {
        source: next.source ?? "defaults",
        failed: failed.join(", "),
      });
    }
  }

  async function stop(): Promise<void> {
    // /healthz and /metrics stay up through the drain; /healthz says "draining" (503).
    draining = true;
    await Promise.all(providers.map((p) => p.stop()));
    // Saved before the listeners go: health lives on them.
    await saver?.stop();
    await engine.shutdown();
    await stopControl();
    history.keep(false);
  }

  return {
    engine,
    providers: () => providers.map((p) => p.status()),
    reload,
    stop,
    metricsText: () =>
      metrics.render({
        listeners: engine.listeners(),
        providers: providers.map((p) => p.status()),
      }),
    get adminPort() {
      return admin.port;
    },
    get peekPort() {
      return peek.port;
    },
  };
}

function sectionOf(c: Config, provider: string): unknown {
  return (c.routing as Record<string, unknown>)[provider];
}

/** Runs until SIGTERM/SIGINT; resolves with the exit code. */
export async function runUntilSignalled(o: AppOptions): Promise<number> {
  const rt = o.rt;
  const log = o.log ?? rootLogger;
  // Handlers go in before the app starts: a SIGTERM that arrives while listeners are opening
  // must drain and exit 0 like any other, not kill the process with the signal's default.
  let app: App | undefined = undefined;
  let stopping = false;
  let reloadWanted = false;
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => exit = resolve);
  const offs: (() => void)[] = [installCrashGuard(log)];
  const drain = (running: App) =>
    void running.stop().then(() => {
      for (const off of offs) off();
      log.info("stopped");
      exit(0);
    });
  const onStop = (sig: string) => () => {
    if (stopping) {
      log.warn("second signal: exiting without waiting for connections", { signal: sig });
      exit(1);
      return;
    }
    stopping = true;
    log.info("shutting down: draining connections", { signal: sig });
    if (app) drain(app); // else: drained as soon as it has started
  };
  const onReload = (sig: string) => () => {
    log.info("reloading", { signal: sig });
    if (app) void app.reload();
    else reloadWanted = true;
  };
  offs.push(rt.onSignal("SIGTERM", onStop("SIGTERM")));
  offs.push(rt.onSignal("SIGINT", onStop("SIGINT")));
  offs.push(rt.onSignal("SIGHUP", onReload("SIGHUP")));
  offs.push(rt.onSignal("SIGUSR1", onReload("SIGUSR1")));
  app = await startApp(o);
  if (stopping) drain(app);
  else if (reloadWanted) void app.reload();
  if (o.workerLink) {
    offs.push(serveWorkerLink({
      engine: app.engine,
      metricsText: () => app!.metricsText(),
      log,
      orphaned: onStop("orphaned"),
    }));
  }
  o.ready?.();
  return await exited;
}
