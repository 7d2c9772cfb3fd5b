// The Consul provider at scale: a round re-reads only the services whose checks changed in the
// list answer (src/providers/consul_changes.ts), counted as detail requests in the emulator, and
// still sees every health change: a check flipping, a node going critical, maintenance mode.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  createChangeTracker,
  createFingerprinter,
  summariseCheck,
} from "../../src/providers/consul_changes.ts";
import { createRawServiceCache, sameServices } from "../../src/providers/raw_cache.ts";
import type { ServiceSpec } from "../../src/routing/types.ts";
import type { ConsulEmulator } from "../_support/consul_emulator.ts";
import { delay, waitFor } from "../_support/wait.ts";
import { consulListReqs, setupConsul } from "./_setup.ts";

const MANY = 2000;
const DETAIL = "/v1/health/service/";

const detailReads = (emu: ConsulEmulator, since = 0) =>
  emu.requests.slice(since).filter((r) => r.path.startsWith(DETAIL))
    .map((r) => decodeURIComponent(r.path.slice(DETAIL.length)));

function registerMany(emu: ConsulEmulator): void {
  for (let i = 0; i < MANY; i++) {
    emu.register({
      id: `s${i}`,
      name: `s${i}`,
      address: "127.0.0.1",
      port: 20000 + i,
      tags: ["sluice", `sluice.listener=local:${10000 + i}`],
    });
  }
}

/** Waits until the provider's list query is parked on the emulator's current index. */
async function parked(emu: ConsulEmulator): Promise<number> {
  const idx = emu.index().toString();
  await waitFor(() => consulListReqs(emu).some((r) => r.query.index === idx), {
    what: "the list query blocking on the current index",
    timeoutMs: 20_000,
  });
  return emu.requests.length;
}

const backendsOf = (snap: readonly { name: string; backends: readonly unknown[] }[], n: string) =>
  snap.find((s) => s.name === n)?.backends.length ?? 0;

describe("consul provider: reads only what changed", { timeout: 120_000 }, () => {
  it(`a change among ${MANY} services reads that service alone`, async (t) => {
    const { emu, c, start } = await setupConsul(t, { before: registerMany });
    start();
    await waitFor(() => c.last?.length === MANY, { what: `${MANY} services`, timeoutMs: 60_000 });
    assert.equal(detailReads(emu).length, MANY, "the first round reads every service once");

    // A new service.
    let since = await parked(emu);
    emu.register({
      id: "new-1",
      name: "new",
      address: "127.0.0.1",
      port: 30000,
      tags: ["sluice", "sluice.listener=local:9999"],
    });
    await waitFor(() => c.last?.some((s) => s.name === "new"), { what: "the new service" });
    assert.deepEqual(detailReads(emu, since), ["new"]);

    // A health change of one instance: a second instance, then the first goes critical.
    since = await parked(emu);
    emu.register({
      id: "s7-b",
      name: "s7",
      address: "127.0.0.2",
      port: 20007,
      tags: ["sluice", "sluice.listener=local:10007"],
    });
    await waitFor(() => backendsOf(c.last!, "s7") === 2, { what: "s7 with two instances" });
    assert.deepEqual(detailReads(emu, since), ["s7"]);
    since = await parked(emu);
    emu.setCheck("s7", "critical");
    await waitFor(() => backendsOf(c.last!, "s7") === 1, { what: "s7 down to one instance" });
    assert.deepEqual(detailReads(emu, since), ["s7"]);

    // Maintenance mode adds a critical check; the instance's own check stays passing.
    since = await parked(emu);
    emu.maintenance("s9", true);
    await waitFor(() => !c.last?.some((s) => s.name === "s9"), { what: "s9 gone in maintenance" });
    assert.deepEqual(detailReads(emu, since), ["s9"]);
    since = await parked(emu);
    emu.maintenance("s9", false);
    await waitFor(() => c.last?.some((s) => s.name === "s9"), { what: "s9 back" });
    assert.deepEqual(detailReads(emu, since), ["s9"]);

    // A deregistration needs no read at all.
    since = await parked(emu);
    emu.deregister("s3");
    await waitFor(() => !c.last?.some((s) => s.name === "s3"), { what: "s3 gone" });
    assert.deepEqual(detailReads(emu, since), []);
    assert.equal(c.last!.length, MANY, "2000 + new - s3 - s9 + s9");
  });

  it("a node going critical re-reads the services on that node only", async (t) => {
    const { emu, c, start } = await setupConsul(t, {
      before(emu) {
        for (let i = 0; i < 20; i++) {
          emu.register({
            id: `a${i}`,
            name: `a${i}`,
            node: i < 3 ? "node-b" : "node-a",
            address: "127.0.0.1",
            port: 20000 + i,
            tags: ["sluice", `sluice.listener=local:${10000 + i}`],
          });
        }
      },
    });
    start();
    await waitFor(() => c.last?.length === 20, { what: "20 services" });
    const since = await parked(emu);
    emu.setNode("node-b", { status: "critical" });
    await waitFor(() => c.last?.length === 17, { what: "node-b's services gone" });
    assert.deepEqual(detailReads(emu, since).sort(), ["a0", "a1", "a2"]);
  });

  it("details fullReadEveryMs old are read again while the list waits", async (t) => {
    const { emu, c, start } = await setupConsul(t, {
      pacing: { fullReadEveryMs: 0 },
      config: { waitMs: 60_000 },
      before(emu) {
        for (let i = 0; i < 5; i++) {
          emu.register({
            id: `f${i}`,
            name: `f${i}`,
            address: "127.0.0.1",
            port: 20000 + i,
            tags: ["sluice", `sluice.listener=local:${10000 + i}`],
          });
        }
      },
    });
    start();
    await waitFor(() => c.last?.length === 5, { what: "5 services" });
    await parked(emu);
    // No change: the second list query stays parked while every service is read once more.
    await waitFor(() => detailReads(emu).length === 10, { what: "the five details read again" });
    assert.deepEqual(new Set(detailReads(emu).slice(5)), new Set(["f0", "f1", "f2", "f3", "f4"]));
    assert.equal(consulListReqs(emu).length, 2, "the startup round and the parked one");
  });

  it("a change is not held up by the details due to be read again", async (t) => {
    // 40 services whose details take 40 ms each to read, all due again. A round that read every
    // due detail (sorted, so "zz" last) would read all 40 before the new service's port opens.
    const register = (name: string, i: number, into = emu) =>
      into.register({
        id: name,
        name,
        address: "127.0.0.1",
        port: 20000 + i,
        tags: ["sluice", `sluice.listener=local:${10000 + i}`],
      });
    const { emu, c, start } = await setupConsul(t, {
      pacing: { fullReadEveryMs: 500 },
      config: { waitMs: 60_000 },
      before(e) {
        for (let i = 0; i < 40; i++) register(`d${i}`, i, e);
      },
    });
    start();
    await waitFor(() => c.last?.length === 40, { what: "40 services" });
    emu.fault({ kind: "delay", ms: 40, path: DETAIL });
    await delay(600); // every detail is due again now
    register("za", 98); // a round starts, and the next one has the 40 due
    await waitFor(() => c.last?.length === 41, { what: "za", timeoutMs: 10_000 });
    await parked(emu);
    const since = emu.requests.length;
    register("zz", 99);
    await waitFor(() => c.last?.length === 42, { what: "zz", timeoutMs: 10_000 });
    const reads = detailReads(emu, since);
    const others = reads.slice(0, reads.indexOf("zz"));
    // At most the background read under way and a few overdue ones, never the 40.
    assert.ok(others.length <= 1 + 8, `read before zz: ${others.join(",")}`);
  });
});

describe("consul change tracker", () => {
  const check = (o: Record<string, unknown>) => ({
    Node: "n1",
    CheckID: "service:a",
    ServiceID: "a",
    ServiceName: "a",
    Status: "passing",
    ServiceTags: ["sluice"],
    ModifyIndex: 5,
    ...o,
  });

  const summaries = (body: unknown[]) => body.flatMap((c) => summariseCheck(c) ?? []);
  const fingerprints = (body: unknown[]) => createFingerprinter()(summaries(body));
  const byName = (m: ReadonlyMap<string, number>) =>
    new Map([...m].sort(([a], [b]) => a < b ? -1 : 1));

  it("fingerprints move with status, index, tags, added checks and node checks", () => {
    const base = fingerprints([check({})]).get("a");
    const moved = [
      [check({ Status: "critical" })],
      [check({ ModifyIndex: 6 })],
      [check({ ServiceTags: ["sluice", "x"] })],
      [check({}), check({ CheckID: "_service_maintenance:a", Status: "critical" })],
      [
        check({}),
        check({ ServiceID: "", ServiceName: "", CheckID: "serfHealth", ServiceTags: [] }),
      ],
    ];
    for (const body of moved) assert.notEqual(fingerprints(body).get("a"), base);
    // Order, and node checks of other nodes, do not matter.
    const other = check({ Node: "n2", ServiceID: "", ServiceName: "", CheckID: "serfHealth" });
    assert.equal(fingerprints([other, check({ ServiceTags: ["sluice"] })]).get("a"), base);
    assert.deepEqual([...fingerprints([other]).keys()], [], "node checks list no service");
  });

  it("a fingerprinter fed answer after answer gives what a new one gives each answer", () => {
    // It keeps and recounts its sums between answers: nothing of an earlier answer may remain.
    const checkOf = fc.record({
      Node: fc.constantFrom("n1", "n2", "n3"),
      CheckID: fc.constantFrom("serfHealth", "service:a", "service:b", "extra"),
      ServiceID: fc.constantFrom("", "a", "b"),
      ServiceName: fc.constantFrom("", "a", "b", "c"),
      Status: fc.constantFrom("passing", "critical"),
      ServiceTags: fc.array(fc.constantFrom("sluice", "x"), { maxLength: 2 }),
      ModifyIndex: fc.nat({ max: 50 }),
    });
    const answers = fc.array(fc.array(checkOf, { maxLength: 8 }), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(answers, (list) => {
        const kept = createFingerprinter();
        for (const body of list) {
          const reused = kept(summaries(body));
          assert.deepEqual(byName(reused), byName(fingerprints(body)));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("reads new and changed names, all after full, again after a failure", () => {
    const tr = createChangeTracker();
    const fp = new Map([["a", 1], ["b", 1]]);
    assert.deepEqual(tr.changed(fp, false), ["a", "b"]);
    tr.read("a", 1, [], 0);
    tr.read("b", 1, [], 0);
    assert.deepEqual(tr.changed(fp, false), []);
    assert.deepEqual(tr.changed(new Map([["a", 2], ["b", 1]]), false), ["a"]);
    tr.forget("b");
    assert.deepEqual(tr.changed(fp, false), ["b"], "a is back to what was read");
    tr.read("a", 1, [], 0);
    tr.read("b", 1, [], 0);
    assert.deepEqual(tr.changed(fp, true), ["a", "b"]);
    assert.deepEqual([...tr.instancesOf(["a", "b", "c"]).keys()], []);
  });

  it("tells which reads are oldest, and keeps a read's array when a new read equals it", () => {
    const tr = createChangeTracker();
    assert.equal(tr.oldestRead(), undefined);
    const inst = { service: "a", id: "n/a", host: "10.0.0.1", port: 80, tags: ["sluice"] };
    tr.read("a", 1, [inst], 300);
    tr.read("b", 1, [], 100);
    tr.read("c", 1, [], 200);
    assert.equal(tr.oldestRead(), 100);
    assert.deepEqual(tr.readBefore(250, 10), ["b", "c"]);
    assert.deepEqual(tr.readBefore(1000, 2), ["b", "c"]);
    assert.deepEqual(tr.readBefore(100, 10), []);
    const kept = tr.instancesOf(["a"]).get("a")!;
    assert.equal(tr.sameAsRead("a", [{ ...inst }]), kept, "equal: the kept array");
    const moved = [{ ...inst, port: 81 }];
    assert.equal(tr.sameAsRead("a", moved), moved, "different: the new one");
    assert.equal(tr.fingerprintOf("a"), 1);
    tr.forget("a");
    assert.equal(tr.fingerprintOf("a"), undefined);
  });
});

describe("raw service cache", () => {
  const inst = (service: string, port: number) => ({
    service,
    id: `${service}-1`,
    host: "127.0.0.1",
    port,
    tags: ["sluice", `sluice.listener=local:${port}`],
  });

  it("gives the same raw objects for an unchanged instance list, new ones for a new list", () => {
    const cache = createRawServiceCache("sluice");
    const a = [inst("a", 5001)];
    const b = [inst("b", 5002)];
    const first = cache.build(new Map([["b", b], ["a", a]]), []);
    assert.deepEqual(first.map((r) => r.name), ["a", "b"], "sorted by service");
    const second = cache.build(new Map([["a", a], ["b", [inst("b", 5003)]]]), []);
    assert.equal(second[0], first[0], "a: the same object");
    assert.notEqual(second[1], first[1], "b: rebuilt");
    assert.equal((second[1]!.backends as { address: string }[])[0]!.address, "127.0.0.1:5003");
  });

  it("compares snapshots by identity, then by content", () => {
    const x = { name: "x" } as unknown as ServiceSpec;
    assert.ok(sameServices([x], [x]));
    assert.ok(sameServices([x], [{ name: "x" } as unknown as ServiceSpec]));
    assert.ok(!sameServices([x], [{ name: "y" } as unknown as ServiceSpec]));
    assert.ok(!sameServices([x], []));
  });
});
