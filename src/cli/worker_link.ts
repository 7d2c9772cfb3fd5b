// The IPC channel between the primary and a worker (runtime.workers > 1): the primary asks,
// the worker answers with its own listeners and counters, or applies a drain. Messages are
// plain JSON (node:child_process "ipc", the same on Deno and Bun); every request carries an id
// that its reply repeats.
import process from "node:process";
import type { Logger } from "../log.ts";
import type { BackendView, EngineControl, ListenerView } from "../proxy/types.ts";

export type LinkRequest =
  | { readonly op: "view"; readonly metrics?: boolean }
  | { readonly op: "drain"; readonly listener: string; readonly backend: string; drain: boolean };

export type LinkReply =
  | {
    readonly id: number;
    readonly op: "view";
    readonly pid: number;
    listeners: ListenerView[];
    /** The worker's own /metrics text, when asked (group_metrics.ts sums parts of it). */
    metricsText?: string;
  }
  | { readonly id: number; readonly op: "drain"; readonly pid: number; readonly found: boolean };

function plainBackend(b: BackendView): BackendView {
  return {
    key: b.key,
    address: b.address,
    ...(b.via !== undefined ? { via: b.via } : {}),
    service: b.service,
    weight: b.weight,
    tier: b.tier,
    health: b.health,
    drain: b.drain,
    drainOverride: b.drainOverride,
    ejected: b.ejected,
    counters: { ...b.counters },
  };
}

/** A copy of a view made of plain data only (the live objects hold sockets and timers). */
function plainListener(l: ListenerView): ListenerView {
  return {
    key: l.key,
    label: l.label,
    host: l.host,
    port: l.port,
    state: l.state,
    ...(l.error !== undefined ? { error: l.error } : {}),
    services: [...l.services],
    balance: l.balance,
    plan: l.plan,
    counters: { ...l.counters },
    backends: l.backends.map(plainBackend),
  };
}

/**
 * In a worker: answers the primary's requests about `engine`. When the channel closes (the
 * primary is gone), `orphaned` runs once: a worker does not outlive its primary.
 * Returns a function that stops listening.
 */
export function serveWorkerLink(
  o: { engine: EngineControl; metricsText: () => string; log: Logger; orphaned: () => void },
): () => void {
  if (typeof process.send !== "function") return () => {};
  const send = (reply: LinkReply | { hello: number }) => {
    try {
      process.send!(reply);
    } catch (err) {
      o.log.warn("cannot answer the primary", { error: String(err) });
    }
  };
  const onMessage = (m: unknown) => {
    const req = m as (LinkRequest & { id: number }) | undefined;
    if (!req || typeof req.id !== "number") return;
    if (req.op === "view") {
      send({
        id: req.id,
        op: "view",
        pid: process.pid,
        listeners: o.engine.listeners().map(plainListener),
        ...(req.metrics ? { metricsText: o.metricsText() } : {}),
      });
    } else if (req.op === "drain") {
      const found = o.engine.setDrain(req.listener, req.backend, req.drain);
      send({ id: req.id, op: "drain", pid: process.pid, found });
    }
  };
  let gone = false;
  const onDisconnect = () => {
    if (gone) return;
    gone = true;
    o.log.warn("the primary is gone: this worker stops");
    o.orphaned();
  };
  process.on("message", onMessage);
  process.on("disconnect", onDisconnect);
  send({ hello: process.pid });
  return () => {
    process.off("message", onMessage);
    process.off("disconnect", onDisconnect);
  };
}
