// The worker group's merge (src/cli/group.ts): counters summed over the processes, a state the
// processes disagree on shown as the furthest from listening with the process named, a backend
// drained for the group only when every process drains it, and the sluice_worker_* families.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mergeParts, workerMetrics } from "../../src/cli/group.ts";
import { sumProcessFamilies } from "../../src/cli/group_metrics.ts";
import type { BackendView, ListenerView } from "../../src/proxy/types.ts";

function backend(o: Partial<BackendView> = {}): BackendView {
  return {
    key: "10.0.0.1:80",
    address: "10.0.0.1:80",
    service: "web",
    weight: 1,
    tier: 0,
    health: "up",
    drain: false,
    drainOverride: false,
    ejected: false,
    counters: { active: 1, total: 2, connectFailures: 0, bytesUp: 10, bytesDown: 20 },
    ...o,
  };
}

function listener(o: Partial<ListenerView> = {}): ListenerView {
  return {
    key: "127.0.0.1:5000",
    label: "local",
    host: "127.0.0.1",
    port: 5000,
    state: "listening",
    services: ["web"],
    balance: "round_robin",
    plan: {} as ListenerView["plan"],
    counters: { active: 1, total: 2, refused: 0, bytesUp: 10, bytesDown: 20 },
    backends: [backend()],
    ...o,
  };
}

describe("worker group merge", () => {
  it("sums counters of the same listener over the processes", () => {
    const [l] = mergeParts([
      { worker: 0, pid: 1, listeners: [listener()] },
      { worker: 1, pid: 2, listeners: [listener()] },
      { worker: 2, pid: undefined, listeners: undefined, error: "worker not running" },
    ]);
    assert.equal(l!.counters.active, 2);
    assert.equal(l!.counters.total, 4);
    assert.equal(l!.counters.bytesDown, 40);
    assert.equal(l!.backends[0]!.counters.total, 4);
    assert.equal(l!.state, "listening");
    assert.equal(l!.error, undefined);
  });

  it("shows a disagreement as the worst state, naming the process", () => {
    const [l] = mergeParts([
      { worker: 0, pid: 1, listeners: [listener()] },
      { worker: 1, pid: 2, listeners: [listener({ state: "bind_failed", error: "EADDRINUSE" })] },
    ]);
    assert.equal(l!.state, "bind_failed");
    assert.equal(l!.error, "worker 1: bind_failed (EADDRINUSE)");
  });

  it("keeps a draining listener apart from its successor", () => {
    const ls = mergeParts([
      { worker: 0, pid: 1, listeners: [listener(), listener({ state: "draining" })] },
      { worker: 1, pid: 2, listeners: [listener()] },
    ]);
    assert.deepEqual(ls.map((l) => [l.state, l.counters.active]).sort(), [
      ["draining", 1],
      ["listening", 2],
    ]);
  });

  it("drains a backend for the group only when every process drains it", () => {
    const drained = listener({ backends: [backend({ drain: true, drainOverride: true })] });
    const half = mergeParts([
      { worker: 0, pid: 1, listeners: [drained] },
      { worker: 1, pid: 2, listeners: [listener()] },
    ]);
    assert.equal(half[0]!.backends[0]!.drain, false);
    const all = mergeParts([
      { worker: 0, pid: 1, listeners: [drained] },
      { worker: 1, pid: 2, listeners: [drained] },
    ]);
    assert.equal(all[0]!.backends[0]!.drain, true);
    const mixedHealth = mergeParts([
      { worker: 0, pid: 1, listeners: [listener()] },
      { worker: 1, pid: 2, listeners: [listener({ backends: [backend({ health: "down" })] })] },
    ]);
    assert.equal(mixedHealth[0]!.backends[0]!.health, "unknown");
  });

  it("writes one series per process in the sluice_worker_* families", () => {
    const row = {
      pid: 1,
      error: null,
      last_exit: null,
      listeners: 1,
      drained: [],
    };
    const text = workerMetrics({
      workers: [
        { ...row, worker: 0, up: true, restarts: 0, active_connections: 3, total_connections: 9 },
        { ...row, worker: 1, up: false, restarts: 2, active_connections: 0, total_connections: 0 },
      ],
    });
    assert.match(text, /^sluice_worker_up\{worker="1"\} 0$/m);
    assert.match(text, /^sluice_worker_active_connections\{worker="0"\} 3$/m);
    assert.match(text, /^sluice_worker_restarts_total\{worker="1"\} 2$/m);
    assert.equal(text.match(/^# TYPE sluice_worker_connections_total counter$/gm)?.length, 1);
  });
});

describe("worker group metrics", () => {
  const H = "sluice_connection_duration_seconds";
  const doc = (rows: string[]) =>
    [
      "# HELP sluice_listener_up x",
      "# TYPE sluice_listener_up gauge",
      'sluice_listener_up{listener="a"} 1',
      `# HELP ${H} x`,
      `# TYPE ${H} histogram`,
      ...rows,
      "# HELP sluice_local_resource_errors_total x",
      "# TYPE sluice_local_resource_errors_total counter",
      'sluice_local_resource_errors_total{errno="EMFILE"} 1',
      "",
    ].join("\n");
  const series = (l: string, n: number) => [
    `${H}_bucket{listener="${l}",le="1"} ${n}`,
    `${H}_bucket{listener="${l}",le="+Inf"} ${n}`,
    `${H}_sum{listener="${l}"} ${n / 2}`,
    `${H}_count{listener="${l}"} ${n}`,
  ];

  it("sums histogram series and process counters, adds worker-only series to their family", () => {
    const out = sumProcessFamilies(doc(series("a", 3)), [
      doc([...series("a", 2), ...series("b", 5)]),
    ]);
    assert.match(out, /^sluice_connection_duration_seconds_count\{listener="a"\} 5$/m);
    assert.match(out, /^sluice_connection_duration_seconds_bucket\{listener="a",le="1"\} 5$/m);
    assert.match(out, /^sluice_connection_duration_seconds_sum\{listener="a"\} 2.5$/m);
    assert.match(out, /^sluice_connection_duration_seconds_count\{listener="b"\} 5$/m);
    assert.match(out, /^sluice_local_resource_errors_total\{errno="EMFILE"\} 2$/m);
    assert.match(out, /^sluice_listener_up\{listener="a"\} 1$/m, "other families untouched");
    const lines = out.split("\n");
    const b = lines.indexOf(`${H}_count{listener="b"} 5`);
    assert.ok(b > lines.indexOf(`${H}_count{listener="a"} 5`), "b after a, inside the family");
    assert.ok(b < lines.indexOf("# TYPE sluice_local_resource_errors_total counter"));
  });

  it("leaves the document as it is without workers", () => {
    const d = doc(series("a", 3));
    assert.equal(sumProcessFamilies(d, []), d);
  });
});
