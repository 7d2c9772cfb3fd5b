// The history's rings, downsampling, series removal and events, driven by an injected clock
// (observe() is given the time; nothing here waits).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { bucketTimes, downsample, RingGroup } from "../../src/admin/history/ring.ts";
import {
  type BackendSnapshot,
  createHistory,
  type ListenerSnapshot,
  type Snapshot,
} from "../../src/admin/history/history.ts";

const T0 = 1_800_000_000; // epoch seconds

function lst(
  key: string,
  total: number,
  o: Partial<ListenerSnapshot["counters"]> = {},
  backends: BackendSnapshot[] = [],
): ListenerSnapshot {
  return {
    key,
    counters: { active: 0, refused: 0, bytesUp: 0, bytesDown: 0, total, ...o },
    backends,
  };
}

function bk(
  key: string,
  o: Partial<BackendSnapshot> = {},
  c: Partial<BackendSnapshot["counters"]> = {},
): BackendSnapshot {
  return {
    key,
    health: "up",
    ejected: false,
    drain: false,
    ...o,
    counters: { active: 0, total: 0, connectFailures: 0, bytesUp: 0, bytesDown: 0, ...c },
  };
}

const snap = (...listeners: ListenerSnapshot[]): Snapshot => ({ listeners, providers: [] });

describe("RingGroup", () => {
  it("wraps around: a slot holds only its own second, skipped seconds read as gaps", () => {
    const r = new RingGroup(4, ["u32", "f64"]);
    for (let s = 1; s <= 10; s++) r.write(s, [s, s * 1.5]);
    assert.equal(r.get(6, 0), undefined); // overwritten by 10
    assert.equal(r.get(7, 0), 7);
    assert.equal(r.get(10, 1), 15);
    assert.equal(r.get(11, 0), undefined); // not written yet
    r.write(13, [13, 0]); // 11 and 12 skipped
    assert.equal(r.get(12, 0), undefined);
    assert.equal(r.get(13, 0), 13);
    assert.equal(r.get(9, 0), undefined, "slot of 9 now holds 13");
    assert.equal(r.bytes, 4 * 4 + 4 * 4 + 4 * 8);
  });

  it("downsamples exactly: averages and maxima of the seconds present, aligned to the step", () => {
    const r = new RingGroup(100, ["u32"]);
    for (let s = 10; s <= 29; s++) if (s !== 17) r.write(s, [s]);
    assert.deepEqual(bucketTimes(12, 29, 5), [10, 15, 20, 25]);
    // [12..14] -> avg 13; [15,16,18,19] -> 17; [20..24] -> 22; [25..29] -> 27
    assert.deepEqual(downsample(r, 0, 12, 29, 5, "avg"), [13, 17, 22, 27]);
    assert.deepEqual(downsample(r, 0, 12, 29, 5, "max"), [14, 19, 24, 29]);
    assert.deepEqual(downsample(r, 0, 30, 34, 5, "avg"), [null]);
    assert.deepEqual(downsample(r, 0, 10, 29, 1, "avg").slice(6, 9), [16, null, 18]);
  });
});

describe("history", () => {
  it("turns counters into per-second values, totals included", () => {
    const h = createHistory({ seconds: 60 });
    h.observe(T0 * 1000, snap(lst("a:1", 100, { bytesUp: 1000 })));
    h.observe((T0 + 1) * 1000 + 20, snap(lst("a:1", 103, { bytesUp: 1500, active: 2 })));
    h.observe((T0 + 2) * 1000, snap(lst("a:1", 110, { bytesUp: 1500, active: 1, refused: 4 })));
    const r = h.query({ since: T0, until: T0 + 2, step: 1, agg: "avg" });
    assert.deepEqual(r.t, [T0, T0 + 1, T0 + 2]);
    const l = r.listeners[0]!;
    assert.deepEqual(l.connections, [0, 3, 7], "the first snapshot is a baseline, not one second");
    assert.deepEqual(l.active, [0, 2, 1]);
    assert.deepEqual(l.bytes_up, [0, 500, 0]);
    assert.deepEqual(l.refused, [0, 0, 4]);
    assert.deepEqual(r.totals.connections, [0, 3, 7]);
    const r2 = h.query({ since: T0, until: T0 + 2, step: 2, agg: "avg" });
    assert.deepEqual(r2.t, [T0, T0 + 2]);
    assert.deepEqual(r2.listeners[0]!.connections, [1.5, 7]);
  });

  it("keeps 15 minutes at one second by default and its memory is fixed per series", () => {
    const h = createHistory();
    assert.equal(h.retentionSeconds, 900);
    const backends = [bk("b:1"), bk("b:2")];
    h.observe(T0 * 1000, snap(lst("a:1", 0, {}, backends)));
    const one = h.bytes();
    // listener 32,400 + 2 backends 29,700 each + totals 32,400
    assert.equal(one, 32_400 + 2 * 29_700 + 32_400);
    for (let s = 1; s <= 2000; s++) h.observe((T0 + s) * 1000, snap(lst("a:1", s, {}, backends)));
    assert.equal(h.bytes(), one, "the rings do not grow");
    const r = h.query({ since: 0, until: T0 + 5000, step: 1, agg: "avg" });
    assert.equal(r.t.length, 900);
    assert.equal(r.t[0], T0 + 2000 - 899);
    assert.ok(r.listeners[0]!.connections.every((v) => v === 1));
  });

  it("caps the number of series and counts what it could not keep", () => {
    const h = createHistory({ seconds: 10, maxSeries: 3 });
    h.observe(T0 * 1000, snap(lst("a:1", 0, {}, [bk("x"), bk("y")]), lst("a:2", 0)));
    assert.equal(h.seriesCount(), 3);
    const r = h.query({ since: T0, until: T0, step: 1, agg: "avg" });
    assert.deepEqual(r.listeners.map((l) => l.address), ["a:1"]);
    assert.equal(r.series.dropped, 1);
  });

  it("drops a closed listener's series once its data aged out, with opened/closed events", () => {
    const h = createHistory({ seconds: 10 });
    h.observe(T0 * 1000, snap(lst("a:1", 0, {}, [bk("x")]), lst("a:2", 0)));
    h.observe((T0 + 1) * 1000, snap(lst("a:2", 1)));
    assert.equal(h.seriesCount(), 3, "kept while its data is in the window");
    let r = h.query({ since: T0, until: T0 + 1, step: 1, agg: "avg" });
    assert.equal(r.listeners.find((l) => l.address === "a:1")?.live, false);
    assert.deepEqual(
      r.events.map((e) => [e.kind, e.listener, e.t]),
      [
        ["listener_opened", "a:1", T0 * 1000],
        ["listener_opened", "a:2", T0 * 1000],
        ["listener_closed", "a:1", (T0 + 1) * 1000],
      ],
    );
    for (let s = 2; s <= 10; s++) h.observe((T0 + s) * 1000, snap(lst("a:2", s)));
    assert.equal(h.seriesCount(), 1);
    r = h.query({ since: T0, until: T0 + 10, step: 1, agg: "avg" });
    assert.deepEqual(r.listeners.map((l) => l.address), ["a:2"]);
    // Back again: a new series, a new event.
    h.observe((T0 + 11) * 1000, snap(lst("a:1", 0), lst("a:2", 11)));
    r = h.query({ since: T0 + 11, until: T0 + 11, step: 1, agg: "avg" });
    assert.deepEqual(r.events.map((e) => [e.kind, e.listener]), [["listener_opened", "a:1"]]);
  });

  it("records backend states and shows the most severe one in a coarser bucket", () => {
    const h = createHistory({ seconds: 60 });
    const states: Partial<BackendSnapshot>[] = [
      {},
      { drain: true },
      { health: "down" },
      { ejected: true },
      { health: "unknown" },
      {},
    ];
    states.forEach((o, i) =>
      h.observe((T0 + i) * 1000, snap(lst("a:1", 0, {}, [bk("x", o, { connectFailures: i })])))
    );
    const r = h.query({ since: T0, until: T0 + 5, step: 1, agg: "avg" });
    const b = r.listeners[0]!.backends[0]!;
    assert.deepEqual(b.state, ["up", "drained", "down", "ejected", "unknown", "up"]);
    assert.deepEqual(b.connect_failures, [0, 1, 1, 1, 1, 1]);
    assert.deepEqual(r.listeners[0]!.connect_failures, [0, 1, 1, 1, 1, 1]);
    const r3 = h.query({ since: T0, until: T0 + 5, step: 3, agg: "avg" });
    assert.deepEqual(r3.listeners[0]!.backends[0]!.state, ["down", "ejected"]);
  });

  it("counts provider updates and errors, with an event per error", () => {
    const h = createHistory({ seconds: 60 });
    const p = (i: number, o: Partial<Snapshot["providers"][number]>) =>
      h.observe((T0 + i) * 1000, {
        listeners: [],
        providers: [{ name: "file", state: "ok", ...o }],
      });
    p(0, { lastUpdate: "u1" });
    p(1, { lastUpdate: "u2" });
    p(2, { lastUpdate: "u2", state: "failing", lastError: "boom" });
    p(3, { lastUpdate: "u2", state: "failing", lastError: "boom" });
    p(4, { name: "consul", updates: 5, errors: 0 } as never);
    const r = h.query({ since: T0, until: T0 + 4, step: 1, agg: "avg" });
    const file = r.providers.find((x) => x.name === "file")!;
    assert.deepEqual(file.updates, [0, 1, 0, 0, null], "the first snapshot is a baseline");
    assert.deepEqual(file.errors, [0, 0, 1, 0, null]);
    assert.deepEqual(
      r.events.map((e) => [e.kind, e.provider, e.message]),
      [["provider_error", "file", "boom"]],
    );
    assert.deepEqual(r.providers.find((x) => x.name === "consul")?.updates, [
      null,
      null,
      null,
      null,
      5,
    ]);
  });

  it("filters by listener and ignores a second already written", () => {
    const h = createHistory({ seconds: 60 });
    h.observe(T0 * 1000, snap(lst("a:1", 0), lst("a:2", 0)));
    h.observe((T0 + 1) * 1000, snap(lst("a:1", 2), lst("a:2", 0)));
    h.observe((T0 + 1) * 1000 + 900, snap(lst("a:1", 5), lst("a:2", 0)));
    h.observe((T0 + 2) * 1000, snap(lst("a:1", 6), lst("a:2", 0)));
    const r = h.query({
      since: T0,
      until: T0 + 2,
      step: 1,
      agg: "max",
      listeners: new Set(["a:1"]),
    });
    assert.deepEqual(r.listeners.map((l) => l.address), ["a:1"]);
    assert.deepEqual(r.listeners[0]!.connections, [0, 2, 4]);
    assert.deepEqual(r.totals.connections, [0, 2, 4]);
  });
});

describe("sampler", () => {
  it("samples the engine's views with the injected clock; a listener routed again is one series", async () => {
    const { startSampler } = await import("../../src/admin/history/sampler.ts");
    const { createFakeEngine, fakeBackend, fakeListener } = await import("./_fake_engine.ts");
    const l = fakeListener("127.0.0.1:5432", [fakeBackend("10.0.0.7:5432")]);
    // The same key draining and listening again (within drain_timeout): counted together.
    const old = fakeListener("127.0.0.1:5432", [fakeBackend("10.0.0.7:5432")], {
      state: "draining",
    });
    const engine = createFakeEngine([l, old]);
    const h = createHistory({ seconds: 60 });
    let now = T0 * 1000;
    const s = startSampler({ history: h, engine, providers: () => [], now: () => now });
    try {
      l.counters.total = 4;
      old.counters.total = 3;
      now += 1000;
      s.sample();
      const r = h.query({ since: T0, until: T0 + 1, step: 1, agg: "avg" });
      assert.deepEqual(r.listeners.map((x) => x.address), ["127.0.0.1:5432"]);
      assert.deepEqual(r.listeners[0]!.connections, [0, 7]);
    } finally {
      s.stop();
    }
  });
});

describe("history keeper", () => {
  it("keeps a sampled history only while asked to (the admin API is configured)", async () => {
    const { createHistoryKeeper } = await import("../../src/admin/history/keeper.ts");
    let samples = 0;
    const engine = {
      listeners() {
        samples++;
        return [];
      },
    };
    const k = createHistoryKeeper({ engine, providers: () => [] });
    try {
      assert.equal(k.current, undefined, "nothing kept before an admin API is configured");
      assert.equal(samples, 0);
      k.keep(true);
      const first = k.current;
      assert.ok(first, "kept once asked");
      assert.equal(samples, 1, "sampled at once");
      k.keep(true);
      assert.equal(k.current, first, "asking again keeps the same history (admin rebinds)");
      assert.equal(samples, 1);
      k.keep(false);
      assert.equal(k.current, undefined, "dropped when the admin API goes");
      k.keep(true);
      assert.ok(k.current && k.current !== first, "a new history when it comes back");
      assert.equal(samples, 2);
    } finally {
      k.keep(false);
    }
  });
});
