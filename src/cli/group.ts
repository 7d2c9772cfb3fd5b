// The process group as one (runtime.workers > 1): the primary's admin API, peek and /metrics
// read a GroupEngine instead of the primary's engine. Before each request that reads state,
// `refresh()` asks every worker for its listeners (worker_link.ts); `listeners()` then merges
// them with the primary's own: counters summed, each listener's state as the group sees it, and
// a drain set in every process. Per-worker detail: `/api/v1/workers` (workersJson) and the
// `sluice_worker_*` metric families (workerMetrics), labelled `worker` (0 = the primary).
import type { Metrics, RenderInput } from "../admin/metrics.ts";
import type { WorkersReport } from "../admin/workers_route.ts";
import type { BackendView, EngineControl, ListenerView } from "../proxy/types.ts";
import type { Logger } from "../log.ts";
import { ExpositionWriter } from "../admin/exposition.ts";
import type { AskResult, WorkerPool } from "./workers.ts";
import { sumProcessFamilies } from "./group_metrics.ts";
import process from "node:process";

/** One process's part: its index (0 = primary), pid, and listeners, or why it has none. */
export interface Part {
  readonly worker: number;
  readonly pid: number | undefined;
  readonly listeners: readonly ListenerView[] | undefined;
  readonly error?: string;
  readonly metricsText?: string;
}

export interface GroupEngine extends EngineControl {
  /**
   * Asks every worker for its view (and its /metrics text when `metrics`); concurrent calls of
   * the same kind share one round of questions.
   */
  refresh(metrics?: boolean): Promise<void>;
  /** Per-process detail from the last refresh (the primary's part is always current). */
  report(): WorkersReport;
  /** The primary's metrics with the group's listeners and the `sluice_worker_*` families. */
  metrics(local: Metrics): Metrics;
}

const STATE_RANK: Record<ListenerView["state"], number> = {
  listening: 0,
  draining: 1,
  pending: 2,
  bind_failed: 3,
};

function sumBackend(views: readonly { worker: number; b: BackendView }[]): BackendView {
  const first = views[0]!.b;
  const c = { active: 0, total: 0, connectFailures: 0, bytesUp: 0, bytesDown: 0 };
  for (const { b } of views) {
    c.active += b.counters.active;
    c.total += b.counters.total;
    c.connectFailures += b.counters.connectFailures;
    c.bytesUp += b.counters.bytesUp;
    c.bytesDown += b.counters.bytesDown;
  }
  const health = views.every(({ b }) => b.health === first.health) ? first.health : "unknown";
  return {
    ...first,
    health,
    // Drained for the group only when every process that has it drains it.
    drain: views.every(({ b }) => b.drain),
    drainOverride: views.every(({ b }) => b.drainOverride),
    ejected: views.every(({ b }) => b.ejected),
    counters: c,
  };
}

/**
 * The group's listeners: one per key and state (a listener draining after a removal stays
 * apart from its successor, as in one process), counters summed over the processes. A state
 * the processes disagree on is the furthest from listening, with the processes named in error.
 */
export function mergeParts(parts: readonly Part[]): ListenerView[] {
  const groups = new Map<string, { worker: number; l: ListenerView }[]>();
  for (const p of parts) {
    for (const l of p.listeners ?? []) {
      const k = `${l.key}\u0000${l.state === "draining" ? "d" : "a"}`;
      const g = groups.get(k) ?? [];
      g.push({ worker: p.worker, l });
      groups.set(k, g);
    }
  }
  const out: ListenerView[] = [];
  for (const g of groups.values()) {
    const worst = g.reduce((a, b) => STATE_RANK[b.l.state] > STATE_RANK[a.l.state] ? b : a);
    const disagree = g.filter((x) => x.l.state !== worst.l.state).length > 0;
    const c = { active: 0, total: 0, refused: 0, bytesUp: 0, bytesDown: 0 };
    const backends = new Map<string, { worker: number; b: BackendView }[]>();
    for (const { worker, l } of g) {
      c.active += l.counters.active;
      c.total += l.counters.total;
      c.refused += l.counters.refused;
      c.bytesUp += l.counters.bytesUp;
      c.bytesDown += l.counters.bytesDown;
      for (const b of l.backends) {
        const list = backends.get(b.key) ?? [];
        list.push({ worker, b });
        backends.set(b.key, list);
      }
    }
    const error = disagree
      ? `worker ${worker(worst)}: ${worst.l.state}${worst.l.error ? ` (${worst.l.error})` : ""}`
      : worst.l.error;
    out.push({
      ...g[0]!.l,
      state: worst.l.state,
      ...(error !== undefined ? { error } : {}),
      counters: c,
      backends: [...backends.values()].map(sumBackend),
    });
  }
  return out.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

const worker = (x: { worker: number }) => x.worker;

export function createGroupEngine(
  o: { local: EngineControl; pool: WorkerPool; log: Logger },
): GroupEngine {
  let remote: Part[] = [];
  const inFlight = new Map<boolean, Promise<void>>();
  const partOf = (r: AskResult): Part =>
    r.ok && r.reply.op === "view"
      ? {
        worker: r.index,
        pid: r.reply.pid,
        listeners: r.reply.listeners,
        ...(r.reply.metricsText !== undefined ? { metricsText: r.reply.metricsText } : {}),
      }
      : {
        worker: r.index,
        pid: undefined,
        listeners: undefined,
        error: r.ok ? "unexpected answer" : r.error,
      };
  const local = (): Part => ({ worker: 0, pid: process.pid, listeners: o.local.listeners() });
  const parts = () => [local(), ...remote];

  const engine: GroupEngine = {
    refresh(metrics = false) {
      let p = inFlight.get(metrics);
      if (!p) {
        p = o.pool.ask({ op: "view", metrics }).then((rs) => {
          remote = rs.map(partOf);
        }).finally(() => inFlight.delete(metrics));
        inFlight.set(metrics, p);
      }
      return p;
    },
    listeners: () => mergeParts(parts()),
    setDrain(listener, backend, drain) {
      const found = o.local.setDrain(listener, backend, drain);
      // Every worker gets it; IPC keeps order, so a read after this sees it applied.
      void o.pool.ask({ op: "drain", listener, backend, drain }).then((rs) => {
        for (const r of rs) {
          if (!r.ok) {
            o.log.warn("drain not delivered to a worker", { worker: r.index, error: r.error });
          }
        }
      });
      return found;
    },
    report() {
      const info = new Map(o.pool.workers().map((w) => [w.index, w]));
      return {
        workers: parts().map((p) => {
          const w = info.get(p.worker);
          const ls = p.listeners ?? [];
          return {
            worker: p.worker,
            pid: p.worker === 0 ? process.pid : w?.pid ?? null,
            up: p.listeners !== undefined,
            error: p.error ?? null,
            restarts: w?.restarts ?? 0,
            last_exit: w?.lastExit ?? null,
            listeners: ls.length,
            active_connections: ls.reduce((n, l) => n + l.counters.active, 0),
            total_connections: ls.reduce((n, l) => n + l.counters.total, 0),
            drained: ls.flatMap((l) =>
              l.backends.filter((b) => b.drainOverride).map((b) => `${l.key} ${b.key}`)
            ),
          };
        }),
      };
    },
    metrics(m) {
      return {
        ...m,
        render: (input: RenderInput) =>
          sumProcessFamilies(
            m.render(input),
            remote.flatMap((p) => p.metricsText !== undefined ? [p.metricsText] : []),
          ) + workerMetrics(engine.report()),
      };
    },
  };
  return engine;
}

/** The `sluice_worker_*` families: one series per process, labelled `worker`. */
export function workerMetrics(r: WorkersReport): string {
  const w = new ExpositionWriter();
  const family = (
    name: string,
    type: "gauge" | "counter",
    help: string,
    v: (x: typeof r.workers[number]) => number,
  ) => {
    w.family(name, type, help);
    for (const x of r.workers) w.sample(name, { worker: String(x.worker) }, v(x));
  };
  family(
    "sluice_worker_up",
    "gauge",
    "1 when the process answered the primary (worker 0 is the primary).",
    (x) => x.up ? 1 : 0,
  );
  family(
    "sluice_worker_active_connections",
    "gauge",
    "Client connections open now in the process.",
    (x) => x.active_connections,
  );
  family(
    "sluice_worker_connections_total",
    "counter",
    "Client connections the process accepted (restarts from 0 with the process).",
    (x) => x.total_connections,
  );
  family(
    "sluice_worker_restarts_total",
    "counter",
    "Restarts of the worker after it exited unexpectedly.",
    (x) => x.restarts,
  );
  return w.text();
}
