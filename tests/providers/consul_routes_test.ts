// The Consul provider against the Consul emulator over real HTTP: how tagged services become
// routes and follow changes (reference test matrix T1-T6, T16), tags, weights, IPv6, parameters.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { view } from "./_harness.ts";
import { consulListReqs as listReqs, setupConsul as setup } from "./_setup.ts";
import { waitFor } from "../_support/wait.ts";

describe("consul provider: routes", { timeout: 30_000 }, () => {
  it("T1: builds the table from tagged services, then blocks on the returned index", async (t) => {
    const { emu, c, start, p } = await setup(t, {
      before(emu) {
        emu.register({
          id: "a1",
          name: "a",
          address: "127.0.0.1",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.register({
          id: "b1",
          name: "b",
          address: "127.0.0.2",
          port: 9002,
          tags: ["sluice", "sluice.listener=any:5002"],
        });
        emu.register({
          id: "c1",
          name: "c",
          address: "127.0.0.3",
          port: 9003,
          tags: ["sluice", "sluice.listener=local:5003", "sluice.balance=least_conn"],
        });
        emu.register({
          id: "x1",
          name: "untagged",
          address: "127.0.0.4",
          port: 9004,
          tags: ["other"],
        });
      },
    });
    start();
    await waitFor(() => c.snapshots.length >= 1, { what: "first snapshot" });
    assert.deepEqual(view(c.last), [
      "a local:5001 -> 127.0.0.1:9001",
      "b any:5002 -> 127.0.0.2:9002",
      "c local:5003 -> 127.0.0.3:9003",
    ]);
    assert.equal(c.last!.find((s) => s.name === "c")!.settings.balance, "least_conn");
    await waitFor(() => listReqs(emu).length >= 2, { what: "second list request" });
    const [first, second] = listReqs(emu);
    assert.equal(first!.query.index, undefined, "C1: the first read does not block");
    assert.equal(second!.query.index, emu.index().toString(), "then it blocks on the index");
    assert.equal(second!.query.wait, "1000ms");
    assert.equal(first!.query.filter, 'ServiceTags contains "sluice" or ServiceID == ""');
    const st = p.status();
    assert.equal(st.state, "ok");
    assert.equal(st.kind, "consul");
    assert.equal(st.services, 3);
    assert.equal(st.index, emu.index().toString());
    const detail = emu.requests.find((r) => r.path === "/v1/health/service/a")!;
    assert.equal(detail.query.passing, "true");
  });

  it("with the default bucket, a registration and a deregistration after start each arrive in 1 s", async (t) => {
    const { emu, c, start } = await setup(t, {
      config: { waitMs: 10_000 },
      bucket: { burst: 2, refillMs: 15_000 },
    });
    start();
    await waitFor(() => c.snapshots.length === 1 && emu.pending() === 1, {
      what: "blocked on an empty table",
    });
    emu.register({
      id: "a1",
      name: "a",
      port: 9001,
      tags: ["sluice", "sluice.listener=local:5001"],
    });
    await waitFor(() => c.last?.length === 1, { what: "registration", timeoutMs: 1000 });
    await waitFor(() => emu.pending() === 1, { what: "blocked again", timeoutMs: 1000 });
    emu.deregister("a1");
    await waitFor(() => c.last?.length === 0, { what: "deregistration", timeoutMs: 1000 });
  });

  it("T2: a wait timeout with the same index and body delivers nothing new", async (t) => {
    const { emu, c, start } = await setup(t, {
      config: { waitMs: 150 },
      before(emu) {
        emu.register({
          id: "a1",
          name: "a",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.register({
          id: "a2",
          name: "a",
          node: "node-b",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
      },
    });
    start();
    await waitFor(() => c.snapshots.length >= 1, { what: "first snapshot" });
    const before = listReqs(emu).length;
    await waitFor(() => listReqs(emu).length >= before + 3, { what: "three more rounds" });
    assert.equal(c.snapshots.length, 1);
  });

  it("T3: an instance whose check goes critical leaves; the listener stays", async (t) => {
    const { emu, c, start } = await setup(t, {
      before(emu) {
        emu.setNode("node-b", { address: "127.0.0.2" });
        emu.register({
          id: "a1",
          name: "a",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.register({
          id: "a2",
          name: "a",
          node: "node-b",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
      },
    });
    start();
    await waitFor(() => c.last?.[0]?.backends.length === 2, { what: "two backends" });
    emu.setCheck("a2", "critical");
    await waitFor(() => c.last?.[0]?.backends.length === 1, { what: "one backend" });
    assert.deepEqual(view(c.last), ["a local:5001 -> 127.0.0.1:9001"]);
    emu.setCheck("a2", "warning"); // warning is not passing either
    // The provider has read the answer after the change once it blocks on the new index.
    const changed = emu.index().toString();
    await waitFor(() => listReqs(emu).some((r) => r.query.index === changed), {
      what: "the next round",
    });
    assert.deepEqual(view(c.last), ["a local:5001 -> 127.0.0.1:9001"]);
    emu.setCheck("a2", "passing");
    await waitFor(() => c.last?.[0]?.backends.length === 2, { what: "back to two" });
  });

  it("T4: when the only instance fails, the service (and its listener) goes until it passes", async (t) => {
    const { emu, c, start } = await setup(t, {
      before(emu) {
        emu.register({
          id: "a1",
          name: "a",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.register({
          id: "b1",
          name: "b",
          port: 9002,
          tags: ["sluice", "sluice.listener=local:5002"],
        });
      },
    });
    start();
    await waitFor(() => c.last?.length === 2, { what: "two services" });
    emu.setCheck("a1", "critical");
    await waitFor(() => c.last?.length === 1, { what: "a dropped" });
    assert.deepEqual(view(c.last), ["b local:5002 -> 127.0.0.1:9002"]);
    emu.setNode("node-a", { status: "critical" }); // serfHealth fails: every instance there goes
    await waitFor(() => c.last?.length === 0, { what: "all dropped" });
    emu.setNode("node-a", { status: "passing" });
    emu.setCheck("a1", "passing");
    await waitFor(() => c.last?.length === 2, { what: "both back" });
  });

  it("T5: a listener tag moving from :5555 to :5556 closes the old and opens the new", async (t) => {
    const { emu, c, start } = await setup(t, {
      before(emu) {
        emu.register({
          id: "a1",
          name: "a",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5555"],
        });
      },
    });
    start();
    await waitFor(() => c.last?.length === 1, { what: "snapshot" });
    emu.setTags("a1", ["sluice", "sluice.listener=local:5556"]);
    await waitFor(() => c.last?.[0]?.listeners[0]?.port === 5556, { what: "moved listener" });
    assert.deepEqual(c.last![0]!.listeners, [{ label: "local", port: 5556 }]);
  });

  it("T6: an index going backwards resets to a plain read, then blocks on the new index", async (t) => {
    const { emu, c, start, log } = await setup(t, {
      config: { waitMs: 2000 },
      before(emu) {
        emu.register({
          id: "a1",
          name: "a",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
      },
    });
    start();
    await waitFor(() => c.snapshots.length === 1 && emu.pending() === 1, {
      what: "blocked long poll",
    });
    const n = listReqs(emu).length;
    emu.restore(3n);
    await waitFor(() => listReqs(emu).length >= n + 2, { what: "re-read after the restore" });
    const after = listReqs(emu).slice(n);
    assert.equal(after[0]!.query.index, undefined, "C2: index reset to 0");
    assert.equal(after[1]!.query.index, "3", "then blocks on the lower index");
    assert.ok(log.lines.some((l) => l.msg === "index went backwards, reading everything again"));
    emu.register({
      id: "a2",
      name: "a",
      node: "node-b",
      port: 9009,
      tags: ["sluice", "sluice.listener=local:5001"],
    });
    await waitFor(() => c.last?.[0]?.backends.length === 2, {
      what: "changes after the restore arrive",
    });
  });

  it("T16: IPv6 addresses are bracketed; an empty service address uses the node's", async (t) => {
    const { emu, c, start } = await setup(t, {
      before(emu) {
        emu.setNode("node-6", { address: "2001:db8::9" });
        emu.register({
          id: "a1",
          name: "a",
          address: "2001:db8::7",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.register({
          id: "a2",
          name: "a",
          node: "node-6",
          port: 9002,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.setNode("node-4", { address: "10.1.2.3" });
        emu.register({
          id: "b1",
          name: "b",
          node: "node-4",
          address: "",
          port: 9003,
          tags: ["sluice", "sluice.listener=local:5002"],
        });
      },
    });
    start();
    await waitFor(() => c.last?.length === 2, { what: "snapshot" });
    assert.deepEqual(view(c.last), [
      "a local:5001 -> [2001:db8::7]:9001,[2001:db8::9]:9002",
      "b local:5002 -> 10.1.2.3:9003",
    ]);
    void emu;
  });

  it("uses Weights.Passing as the weight unless a weight tag is set; skips connect proxies", async (t) => {
    const { c, start } = await setup(t, {
      before(emu) {
        emu.setNode("node-b", { address: "127.0.0.2" });
        emu.register({
          id: "a1",
          name: "a",
          port: 9001,
          weights: { Passing: 5, Warning: 1 },
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.register({
          id: "a2",
          name: "a",
          node: "node-b",
          port: 9001,
          weights: { Passing: 5, Warning: 1 },
          tags: ["sluice", "sluice.listener=local:5001", "sluice.weight=2", "sluice.tier=1"],
        });
        emu.register({
          id: "a-proxy",
          name: "a",
          node: "node-b",
          port: 21000,
          kind: "connect-proxy",
          tags: ["sluice", "sluice.listener=local:5001"],
        });
      },
    });
    start();
    await waitFor(() => c.snapshots.length === 1, { what: "snapshot" });
    assert.deepEqual(view(c.last), ["a local:5001 -> 127.0.0.1:9001/w5,127.0.0.2:9001/w2/t1"]);
  });

  it('tag = "dill" reads services registered for dill', async (t) => {
    const { c, start } = await setup(t, {
      config: { tag: "dill" },
      before(emu) {
        emu.register({
          id: "a1",
          name: "a",
          port: 9001,
          tags: ["dill", "dill.listener=local:5555", "dill.proxy=socks5://127.0.0.1:1080"],
        });
        emu.register({
          id: "b1",
          name: "b",
          port: 9002,
          tags: ["sluice", "sluice.listener=local:5556"],
        });
      },
    });
    start();
    await waitFor(() => c.snapshots.length === 1, { what: "snapshot" });
    assert.deepEqual(view(c.last), ["a local:5555 -> 127.0.0.1:9001"]);
    assert.equal(c.last![0]!.proxy?.port, 1080);
  });

  it("a bad tag value drops that service with one warning; the others apply", async (t) => {
    const { c, start, log, emu } = await setup(t, {
      config: { waitMs: 150 },
      before(emu) {
        emu.register({
          id: "a1",
          name: "a",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001", "sluice.balance=fastest"],
        });
        emu.register({
          id: "b1",
          name: "b",
          port: 9002,
          tags: ["sluice", "sluice.listener=local:5002"],
        });
      },
    });
    start();
    await waitFor(() => c.snapshots.length === 1, { what: "snapshot" });
    assert.deepEqual(view(c.last), ["b local:5002 -> 127.0.0.1:9002"]);
    const n = listReqs(emu).length;
    await waitFor(() => listReqs(emu).length >= n + 2, { what: "more rounds" });
    const warnings = log.lines.filter((l) => l.msg === "route problem");
    assert.equal(warnings.length, 1, "logged once, not once per round");
    assert.equal(warnings[0]!.fields.service, "a");
    assert.equal(warnings[0]!.fields.field, "balance");
  });

  it("sends ns only when set, dc and the consistency flag as configured", async (t) => {
    const { emu, c, start } = await setup(t, {
      config: { datacenter: "dc1", consistencyMode: "consistent" },
      emu: { enterprise: false },
      before(emu) {
        emu.register({
          id: "a1",
          name: "a",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
      },
    });
    start();
    await waitFor(() => c.snapshots.length === 1, { what: "snapshot" });
    for (const r of emu.requests) {
      assert.equal(r.query.dc, "dc1");
      assert.ok("consistent" in r.query);
      assert.ok(!("ns" in r.query));
    }
    const e = await setup(t, {
      config: { namespace: "team-a" },
      emu: { enterprise: true },
      before(emu) {
        emu.register({
          id: "a1",
          name: "a",
          port: 9001,
          namespace: "team-a",
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.register({
          id: "z1",
          name: "z",
          port: 9002,
          tags: ["sluice", "sluice.listener=local:5002"],
        });
      },
    });
    e.start();
    await waitFor(() => e.c.snapshots.length === 1, { what: "enterprise snapshot" });
    assert.deepEqual(view(e.c.last), ["a local:5001 -> 127.0.0.1:9001"]);
    assert.ok(e.emu.requests.every((r) => r.query.ns === "team-a"));
  });
});
