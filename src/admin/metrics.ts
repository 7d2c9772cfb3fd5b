// Prometheus metrics: the engine's live counters and the providers' status rendered at scrape
// time (no work per chunk), plus the two duration histograms fed by the EngineObserver hooks.
//
// Labels: `listener` is the listener's address ("127.0.0.1:5432"), `backend` is the backend's key
// (its address, prefixed by the redacted proxy URL when it has one), `provider` the provider's
// name. `sluice_bytes_total` is per listener: direction="in" counts the up direction (client to
// backend, bytes_up in the admin API), direction="out" the down direction (backend to client).
import type { BackendView, EngineObserver, ListenerView } from "../proxy/types.ts";
import type { ProviderStatus } from "../providers/types.ts";
import { ExpositionWriter, type Labels } from "./exposition.ts";
import { Histogram } from "./histogram.ts";
import { writeSniMetrics } from "./sni_metrics.ts";
import { LagSampler, writeProcessMetrics } from "./process_metrics.ts";

export interface RenderInput {
  readonly listeners: readonly ListenerView[];
  readonly providers: readonly ProviderStatus[];
}

export interface Metrics extends EngineObserver {
  /** The whole exposition document, from the views given and the histograms recorded. */
  render(o: RenderInput): string;
  /** Stops the event-loop lag sampler (it never keeps the process alive either way). */
  close(): void;
}

/** Connect times: loopback is sub-millisecond, a remote DC or a SOCKS5 hop tens of ms, timeouts seconds. */
export const CONNECT_BUCKETS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** Connection lifetimes: from quick probes to day-long database sessions. */
export const CONNECTION_BUCKETS: readonly number[] = [
  0.01,
  0.05,
  0.1,
  0.5,
  1,
  5,
  10,
  30,
  60,
  300,
  900,
  1800,
  3600,
  14400,
  86400,
];

const SEP = "\u0000";

const listenerLabels = (listener: string): Labels => ({ listener });
const pairLabels = (key: string): Labels => {
  const i = key.indexOf(SEP);
  return { listener: key.slice(0, i), backend: key.slice(i + 1) };
};

/** Counts derived from status changes, for providers that do not count themselves. */
interface ProviderTrack {
  lastUpdate: string | undefined;
  lastError: string | undefined;
  state: ProviderStatus["state"];
  updates: number;
  errors: number;
}

function sumBackends(a: BackendView, b: BackendView): BackendView {
  const x = a.counters;
  const y = b.counters;
  return {
    ...a,
    counters: {
      active: x.active + y.active,
      total: x.total + y.total,
      connectFailures: x.connectFailures + y.connectFailures,
      bytesDown: x.bytesDown + y.bytesDown,
      bytesUp: x.bytesUp + y.bytesUp,
    },
  };
}

/**
 * One view per listener key. A listener removed and routed again within drain_timeout is in
 * the engine's list twice (the draining one and the new one); Prometheus rejects duplicate
 * series, so they are summed, and the new one's state and backends' settings win.
 */
export function mergeListenerViews(ls: readonly ListenerView[]): readonly ListenerView[] {
  const byKey = new Map<string, ListenerView>();
  for (const l of ls) {
    const seen = byKey.get(l.key);
    if (!seen) {
      byKey.set(l.key, l);
      continue;
    }
    const [main, old] = seen.state === "draining" ? [l, seen] : [seen, l];
    // On an SNI listener one address may be a backend of several services.
    const id = main.sni || old.sni
      ? (b: BackendView) => `${b.service}\u0000${b.key}`
      : (b: BackendView) => b.key;
    const backends = new Map(main.backends.map((b) => [id(b), b]));
    for (const b of old.backends) {
      const m = backends.get(id(b));
      backends.set(id(b), m ? sumBackends(m, b) : b);
    }
    const x = main.counters;
    const y = old.counters;
    byKey.set(l.key, {
      ...main,
      counters: {
        active: x.active + y.active,
        total: x.total + y.total,
        refused: x.refused + y.refused,
        bytesUp: x.bytesUp + y.bytesUp,
        bytesDown: x.bytesDown + y.bytesDown,
      },
      backends: [...backends.values()],
      ...(main.sni
        ? {
          sni: {
            ...main.sni,
            unmatched: main.sni.unmatched + (old.sni?.unmatched ?? 0),
            timeouts: main.sni.timeouts + (old.sni?.timeouts ?? 0),
          },
        }
        : {}),
    });
  }
  return [...byKey.values()];
}

export function createMetrics(): Metrics {
  const connect = new Histogram({
    name: "sluice_connect_duration_seconds",
    help:
      "Time to establish a backend connection (through its proxy, if any), successful attempts only.",
    bounds: CONNECT_BUCKETS,
  });
  const connection = new Histogram({
    name: "sluice_connection_duration_seconds",
    help: "Lifetime of finished client connections.",
    bounds: CONNECTION_BUCKETS,
  });
  const lag = new LagSampler();
  // listener -> backend -> their series key, so that an observation builds no string.
  const pairKeys = new Map<string, Map<string, string>>();
  function pairKey(listener: string, backend: string): string {
    let m = pairKeys.get(listener);
    if (!m) pairKeys.set(listener, m = new Map());
    let k = m.get(backend);
    if (k === undefined) m.set(backend, k = listener + SEP + backend);
    return k;
  }
  const tracks = new Map<string, ProviderTrack>();
  // By errno; the four the runtime maps to ERESOURCE are always shown, from 0.
  const resourceErrors = new Map<string, number>(
    ["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"].map((e) => [e, 0]),
  );

  function providerCounts(p: ProviderStatus): { updates: number; errors: number } {
    let t = tracks.get(p.name);
    if (!t) {
      t = { lastUpdate: undefined, lastError: undefined, state: "waiting", updates: 0, errors: 0 };
      tracks.set(p.name, t);
    }
    // Seen only at scrape time: several changes between two scrapes count once. Providers that
    // report `updates`/`errors` themselves are exact.
    if (p.lastUpdate !== undefined && p.lastUpdate !== t.lastUpdate) t.updates++;
    if (
      (p.lastError !== undefined && p.lastError !== t.lastError) ||
      (p.state === "failing" && t.state !== "failing" && p.lastError === t.lastError)
    ) t.errors++;
    t.lastUpdate = p.lastUpdate;
    t.lastError = p.lastError;
    t.state = p.state;
    return { updates: p.updates ?? t.updates, errors: p.errors ?? t.errors };
  }

  function render(o: RenderInput): string {
    lag.start();
    const w = new ExpositionWriter();
    const ls = mergeListenerViews(o.listeners);
    const lab = (l: ListenerView): Labels => ({ listener: l.key });

    w.family("sluice_routing_listeners", "gauge", "Listeners in the routing table, in any state.")
      .sample("sluice_routing_listeners", undefined, ls.length);

    w.family(
      "sluice_listener_info",
      "gauge",
      "Always 1: the listener's label, state and, for bind_failed, the reason.",
    );
    for (const l of ls) {
      w.sample("sluice_listener_info", {
        listener: l.key,
        label: l.label,
        state: l.state,
        error: l.error ?? "",
      }, 1);
    }
    const perListener = (
      name: string,
      type: "counter" | "gauge",
      help: string,
      v: (l: ListenerView) => number,
    ) => {
      w.family(name, type, help);
      for (const l of ls) w.sample(name, lab(l), v(l));
    };
    perListener(
      "sluice_listener_up",
      "gauge",
      "1 when the listener accepts connections.",
      (l) => l.state === "listening" ? 1 : 0,
    );
    perListener(
      "sluice_listener_connections_total",
      "counter",
      "Client connections accepted.",
      (l) => l.counters.total,
    );
    perListener(
      "sluice_listener_active_connections",
      "gauge",
      "Client connections open now.",
      (l) => l.counters.active,
    );
    perListener(
      "sluice_listener_refused_total",
      "counter",
      "Client connections refused by max_connections.",
      (l) => l.counters.refused,
    );
    w.family(
      "sluice_bytes_total",
      "counter",
      'Bytes proxied per listener: direction="in" is up (client to backend), ' +
        'direction="out" is down (backend to client).',
    );
    for (const l of ls) {
      w.sample("sluice_bytes_total", { listener: l.key, direction: "in" }, l.counters.bytesUp);
      w.sample("sluice_bytes_total", { listener: l.key, direction: "out" }, l.counters.bytesDown);
    }

    writeSniMetrics(w, ls);

    const backends = ls.flatMap((l) => l.backends.map((b) => ({ l, b })));
    const perBackend = (
      name: string,
      type: "counter" | "gauge",
      help: string,
      v: (x: (typeof backends)[number]) => number,
    ) => {
      w.family(name, type, help);
      for (const x of backends) {
        // A listener with several services (sharing a pool, or one each by server name):
        // say which service brought the backend.
        const labels: Labels = x.l.services.length > 1
          ? { listener: x.l.key, service: x.b.service, backend: x.b.key }
          : { listener: x.l.key, backend: x.b.key };
        w.sample(name, labels, v(x));
      }
    };
    perBackend(
      "sluice_backend_up",
      "gauge",
      "1 unless active health checks mark the backend down (no checks counts as up).",
      ({ b }) => (b.health === "down" ? 0 : 1),
    );
    perBackend(
      "sluice_backend_drain",
      "gauge",
      "1 when the backend takes no new connections (drained by routing or the admin API).",
      ({ b }) => (b.drain ? 1 : 0),
    );
    perBackend(
      "sluice_backend_connections_total",
      "counter",
      "Connections proxied to the backend.",
      ({ b }) => b.counters.total,
    );
    perBackend(
      "sluice_backend_active_connections",
      "gauge",
      "Connections to the backend open now.",
      ({ b }) => b.counters.active,
    );
    perBackend(
      "sluice_backend_connect_failures_total",
      "counter",
      "Failed attempts to connect to the backend.",
      ({ b }) => b.counters.connectFailures,
    );

    // Series of listeners and backends that are gone would otherwise grow without bound.
    const live = new Set<string>();
    for (const x of backends) live.add(x.l.key + SEP + x.b.key);
    const liveListeners = new Set(ls.map((l) => l.key));
    connect.prune((k) => live.has(k));
    connection.prune((k) => liveListeners.has(k));
    for (const [l, m] of pairKeys) {
      if (!liveListeners.has(l)) pairKeys.delete(l);
      else for (const [b, k] of m) if (!live.has(k)) m.delete(b);
    }
    connect.write(w);
    connection.write(w);

    w.family(
      "sluice_local_resource_errors_total",
      "counter",
      "Backend dials that failed for want of a local resource (descriptors, buffers, memory); " +
        "the client connection was closed and the backend not blamed.",
    );
    for (const [errno, n] of resourceErrors) {
      w.sample("sluice_local_resource_errors_total", { errno }, n);
    }

    const counts = o.providers.map((p) => ({ p, ...providerCounts(p) }));
    w.family(
      "sluice_provider_up",
      "gauge",
      '1 when the provider\'s last attempt succeeded (state "ok").',
    );
    for (const { p } of counts) {
      w.sample("sluice_provider_up", { provider: p.name }, p.state === "ok" ? 1 : 0);
    }
    w.family(
      "sluice_provider_updates_total",
      "counter",
      "Routing snapshots delivered by the provider.",
    );
    for (const c of counts) {
      w.sample("sluice_provider_updates_total", { provider: c.p.name }, c.updates);
    }
    w.family(
      "sluice_provider_errors_total",
      "counter",
      "Failed provider attempts (fetch, parse, validation).",
    );
    for (const c of counts) {
      w.sample("sluice_provider_errors_total", { provider: c.p.name }, c.errors);
    }

    writeProcessMetrics(w, lag.take());
    return w.text();
  }

  return {
    connectDone(listener, backend, seconds, ok) {
      // Failures are counted by sluice_backend_connect_failures_total; timing them here would
      // mix refusals (instant) and timeouts (the configured limit) into the latency picture.
      if (!ok) return;
      connect.observe(pairKey(listener, backend), pairLabels, seconds);
    },
    connectionDone(listener, seconds) {
      connection.observe(listener, listenerLabels, seconds);
    },
    localResourceError(_listener, errno) {
      resourceErrors.set(errno, (resourceErrors.get(errno) ?? 0) + 1);
    },
    render,
    close() {
      lag.stop();
    },
  };
}
