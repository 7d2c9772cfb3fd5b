// The Consul provider against the Consul emulator over real HTTP: faults (reference test matrix
// T7-T13), token hygiene, unreachable agents, garbage, stop and configuration errors. Pacing
// (least waits, the token bucket) is in pacing_test.ts, on an injected clock.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createConsulProvider } from "../../src/providers/consul.ts";
import { SluiceError } from "../../src/errors.ts";
import { startConsulEmulator } from "../_support/consul_emulator.ts";
import { captureLogger, FAST, logText, view } from "./_harness.ts";
import {
  consulConfig as config,
  consulListReqs as listReqs,
  rt,
  setupConsul as setup,
} from "./_setup.ts";
import { waitFor, within } from "../_support/wait.ts";
import { whenDone } from "../_support/cleanup.ts";

describe("consul provider: faults", { timeout: 30_000 }, () => {
  it("T7: an index header of 0 is never blocked on; a missing one does not spin", async (t) => {
    const { emu, c, start } = await setup(t, {
      bucket: { burst: 2, refillMs: 200 },
      before(emu) {
        emu.register({
          id: "a1",
          name: "a",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.fault({ kind: "index_zero", path: "/v1/health/state/", times: 3 });
      },
    });
    start();
    await waitFor(() => listReqs(emu).length >= 3, { what: "three list reads" });
    assert.equal(listReqs(emu)[1]!.query.index, "1", "C3: 0 becomes 1");
    assert.equal(c.snapshots.length, 1);
    emu.fault({ kind: "no_index", path: "/v1/health/state/" });
    emu.dropPending(); // the long poll in flight had its fault chosen already
    await waitFor(() => listReqs(emu).some((r, i) => i > 3 && r.query.index === undefined), {
      what: "a read without index",
    });
    // Without an index every read answers at once: only the bucket paces it (pacing_test.ts).
    const n0 = listReqs(emu).length;
    await waitFor(() => listReqs(emu).length >= n0 + 2, { what: "more reads" });
    assert.ok(listReqs(emu).slice(n0).every((r) => r.query.index === undefined));
    assert.equal(c.snapshots.length, 1);
  });

  it("T8: 403 ACL not found keeps the table and surfaces the reason", async (t) => {
    const { emu, c, start, p } = await setup(t, {
      pacing: { forbiddenMs: 30_000 },
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
    emu.fault({ kind: "status", status: 403, body: "rpc error making call: ACL not found" });
    emu.dropPending();
    await waitFor(() => p.status().lastError?.includes("ACL not found"), { what: "403 surfaced" });
    // The least wait of 30 s itself is checked with an injected clock in pacing_test.ts.
    assert.equal(p.status().state, "failing");
    assert.equal(c.snapshots.length, 1, "table kept");
  });

  it("T8: an unknown token gets 403 from the emulator's ACL table; the token is never shown", async (t) => {
    const secret = "3f1e-secret-token-c9";
    const { emu, start, p, log } = await setup(t, {
      config: { token: secret },
      before(emu) {
        emu.acl({ enabled: true, tokens: { "good-token": "all" } });
      },
    });
    start();
    await waitFor(() => p.status().state === "failing", { what: "failing" });
    assert.match(p.status().lastError!, /403 ACL not found/);
    const req = emu.requests[0]!;
    assert.equal(req.headers["x-consul-token"], secret, "sent as X-Consul-Token");
    assert.ok(!req.rawQuery.includes(secret), "never in the query string");
    assert.ok(!JSON.stringify(p.status()).includes(secret));
    assert.ok(!logText(log.lines).includes(secret));
    assert.equal(log.lines.filter((l) => l.msg === "provider failing").length, 1);
  });

  it("a server error body that echoes the token is redacted", async (t) => {
    const secret = "tok-123456789";
    const { start, p, log } = await setup(t, {
      config: { token: secret },
      before(emu) {
        emu.fault({ kind: "status", status: 500, body: `rpc error: bad token ${secret}` });
      },
    });
    start();
    await waitFor(() => p.status().lastError, { what: "error" });
    assert.ok(!p.status().lastError!.includes(secret));
    assert.ok(!logText(log.lines).includes(secret));
  });

  it("T9: an ACL-filtered empty answer keeps a non-empty table and warns", async (t) => {
    const { emu, c, start, p } = await setup(t, {
      config: { token: "tok" },
      before(emu) {
        emu.acl({ enabled: true, tokens: { tok: "all" } });
        emu.register({
          id: "a1",
          name: "a",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
      },
    });
    start();
    await waitFor(() => c.snapshots.length === 1 && emu.pending() === 1, { what: "routes" });
    emu.acl({ tokens: { tok: [] } }); // the token's policy now hides every service
    emu.dropPending();
    await waitFor(() => p.status().lastError?.includes("filtered by ACLs"), {
      what: "filtered surfaced",
    });
    assert.equal(p.status().state, "failing");
    assert.equal(c.snapshots.length, 1);
    assert.equal(c.last!.length, 1);
  });

  it("T9: an ACL-filtered empty first answer is delivered empty, with a warning", async (t) => {
    const { c, start, log } = await setup(t, {
      config: { token: "tok" },
      before(emu) {
        emu.acl({ enabled: true, tokens: { tok: ["other"] } });
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
    assert.deepEqual(c.last, []);
    assert.ok(log.lines.some((l) => l.level === "warn" && l.msg === "no services visible"));
  });

  it("T10: No cluster leader keeps the table and recovers; a stale client keeps working", async (t) => {
    const { emu, c, start, p } = await setup(t, {
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
    await waitFor(() => c.snapshots.length === 1 && emu.pending() === 1, { what: "blocked" });
    emu.setLeader(false);
    await waitFor(() => p.status().lastError?.includes("No cluster leader"), {
      what: "500 surfaced",
    });
    assert.equal(c.snapshots.length, 1);
    emu.setLeader(true);
    await waitFor(() => p.status().state === "ok", { what: "recovered" });

    const s = await setup(t, {
      config: { consistencyMode: "stale" },
      before(emu) {
        emu.register({
          id: "a1",
          name: "a",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.setLeader(false);
      },
    });
    s.start();
    await waitFor(() => s.c.snapshots.length === 1, { what: "stale read served" });
    s.emu.register({
      id: "a2",
      name: "a",
      node: "node-b",
      port: 9002,
      tags: ["sluice", "sluice.listener=local:5001"],
    });
    await waitFor(() => s.c.last?.[0]?.backends.length === 2, { what: "updates without a leader" });
    assert.ok(s.emu.requests.every((r) => "stale" in r.query && !("consistent" in r.query)));
  });

  it("T11: a cut long poll and a 504 HTML page are transient and change nothing", async (t) => {
    const { emu, c, start, p } = await setup(t, {
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
    await waitFor(() => c.snapshots.length === 1 && emu.pending() === 1, { what: "blocked" });
    const idx = listReqs(emu).at(-1)!.query.index;
    // fetch retries a GET cut on a reused keep-alive connection once by itself: cut until the
    // provider sees it.
    for (let i = 0; i < 5 && p.status().errors === 0; i++) {
      const n = emu.requests.length;
      emu.dropPending();
      await waitFor(
        () => p.status().errors! > 0 || (emu.requests.length > n && emu.pending() === 1),
        { what: "a retry or an error" },
      );
    }
    assert.equal(p.status().errors, 1, "one error seen");
    assert.match(p.status().lastError!, /connection failed/);
    await waitFor(() => emu.pending() === 1 && p.status().state === "ok", {
      what: "back to blocking",
    });
    assert.equal(listReqs(emu).at(-1)!.query.index, idx, "index kept across the cut");
    emu.fault({ kind: "html504", afterMs: 100, path: "/v1/health/state/", times: 1 });
    emu.dropPending();
    await waitFor(() => p.status().lastError?.includes("504"), { what: "504 seen" });
    assert.match(p.status().lastError!, /HTML/);
    await waitFor(() => p.status().state === "ok", { what: "recovered" });
    assert.equal(c.snapshots.length, 1);
  });

  it("T12: a failing detail read keeps that service's previous backends", async (t) => {
    const { emu, c, start, p } = await setup(t, {
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
    emu.fault({
      kind: "status",
      status: 500,
      body: "rpc error making call: EOF",
      path: "/v1/health/service/b",
    });
    emu.register({
      id: "a2",
      name: "a",
      node: "node-b",
      port: 9011,
      tags: ["sluice", "sluice.listener=local:5001"],
    });
    emu.register({
      id: "b2",
      name: "b",
      node: "node-b",
      port: 9012,
      tags: ["sluice", "sluice.listener=local:5002"],
    });
    await waitFor(() => c.last?.[0]?.backends.length === 2, { what: "a updated" });
    assert.deepEqual(view(c.last), [
      "a local:5001 -> 127.0.0.1:9001,127.0.0.1:9011",
      "b local:5002 -> 127.0.0.1:9002",
    ]);
    await waitFor(() => p.status().lastError?.includes("detail read failed for b"), {
      what: "surfaced",
    });
    emu.clearFaults();
    await waitFor(() => c.last?.[1]?.backends.length === 2, { what: "b updated once it answers" });
  });

  it("T13: a namespace against Consul CE is a config error, surfaced without a hot loop", async (t) => {
    const { emu, start, p, log } = await setup(t, { config: { namespace: "team-a" } });
    start();
    await waitFor(() => p.status().state === "failing", { what: "failing" });
    assert.match(
      p.status().lastError!,
      /400 Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature/,
    );
    assert.match(p.status().lastError!, /routing\.consul/);
    // No hot loop: the 60 s least wait is checked with an injected clock in pacing_test.ts.
    assert.equal(listReqs(emu).length, 1);
    assert.ok(log.lines.some((l) => l.level === "error"));
  });

  it("an unreachable agent is reported once, then recovery is logged", async (t) => {
    const emu = await startConsulEmulator({ jitter: false });
    const url = emu.url;
    await emu.close();
    const log = captureLogger();
    const p = createConsulProvider({
      rt,
      config: config(url),
      log,
      bucket: FAST.bucket,
      pacing: FAST.pacing,
    });
    whenDone(t, () => p.stop());
    p.start(() => {});
    await waitFor(() => p.status().errors! >= 3, { what: "several failures" });
    assert.equal(p.status().state, "failing");
    assert.match(p.status().lastError!, /connection failed/);
    assert.equal(log.lines.filter((l) => l.msg === "provider failing").length, 1);
  });

  it("a non-JSON answer is garbage: the table is kept", async (t) => {
    const { emu, c, start, p } = await setup(t, {
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
    await waitFor(() => c.snapshots.length === 1 && emu.pending() === 1, { what: "blocked" });
    emu.fault({ kind: "garbage", path: "/v1/health/state/", times: 1 });
    emu.dropPending();
    await waitFor(() => p.status().lastError?.includes("not JSON"), { what: "garbage surfaced" });
    assert.equal(c.snapshots.length, 1);
  });

  it("stop() ends a pending long poll at once", async (t) => {
    const { emu, c, start, p } = await setup(t, {
      config: { waitMs: 60_000 },
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
    await waitFor(() => c.snapshots.length === 1 && emu.pending() === 1, { what: "blocked" });
    // The poll would be held for 60 s: stop() must end it, not wait for it (bounded here).
    await within(p.stop(), 10_000, "stop() during a long poll");
    await waitFor(() => emu.pending() === 0, { what: "the long poll to be cut" });
    assert.equal(p.status().state, "stopped");
  });

  it("a missing or invalid address is a CONFIG error naming the key", () => {
    for (const address of ["", "ftp://x", "http://"]) {
      assert.throws(
        () => createConsulProvider({ rt, config: config(address), log: captureLogger() }),
        (e: unknown) =>
          e instanceof SluiceError && e.code === "CONFIG" &&
          /routing\.consul\.address/.test(e.message),
      );
    }
    assert.throws(
      () =>
        createConsulProvider({
          rt,
          config: config("http://127.0.0.1:1", { consistencyMode: "eventual" as "stale" }),
          log: captureLogger(),
        }),
      /routing\.consul\.consistency_mode/,
    );
  });
});
