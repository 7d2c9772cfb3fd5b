// The Consul provider against the Consul emulator over real HTTP: the reference's test matrix
// (T1-T13, T16, T17), tags, weights, IPv6, parameters, and token hygiene.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createConsulProvider } from "../../src/providers/consul.ts";
import type { ConsulProviderConfig } from "../../src/config/types.ts";
import { getRuntime } from "../../src/runtime/detect.ts";
import { SluiceError } from "../../src/errors.ts";
import { type ConsulEmulator, startConsulEmulator } from "../_support/consul_emulator.ts";
import { captureLogger, collector, delay, FAST, logText, until, view } from "./_harness.ts";

const rt = getRuntime();

function config(url: string, over: Partial<ConsulProviderConfig> = {}): ConsulProviderConfig {
  return {
    address: url,
    token: "",
    datacenter: "",
    namespace: "",
    waitMs: 1000,
    consistencyMode: "leader",
    tag: "sluice",
    tls: { insecure: false },
    ...over,
  };
}

type T = { after(fn: () => unknown): void };

async function setup(
  t: T,
  o: {
    config?: Partial<ConsulProviderConfig>;
    emu?: Parameters<typeof startConsulEmulator>[0];
    bucket?: { burst: number; refillMs: number };
    pacing?: {
      backoff?: { baseMs: number; maxMs: number };
      forbiddenMs?: number;
      badRequestMs?: number;
    };
    before?: (emu: ConsulEmulator) => void;
  } = {},
) {
  const emu = await startConsulEmulator({ jitter: false, shuffle: true, ...o.emu });
  t.after(() => emu.close());
  o.before?.(emu);
  const log = captureLogger();
  const p = createConsulProvider({
    rt,
    config: config(emu.url, o.config),
    log,
    bucket: o.bucket ?? FAST.bucket,
    pacing: { ...FAST.pacing, ...o.pacing },
    random: () => 0.5,
  });
  const c = collector();
  t.after(() => p.stop());
  return { emu, log, p, c, start: () => p.start((s) => c.onSnapshot(s)) };
}

const listReqs = (emu: ConsulEmulator) =>
  emu.requests.filter((r) => r.path === "/v1/health/state/passing");

describe("consul provider", { timeout: 30_000 }, () => {
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
    await until(() => c.snapshots.length >= 1, "first snapshot");
    assert.deepEqual(view(c.last), [
      "a local:5001 -> 127.0.0.1:9001",
      "b any:5002 -> 127.0.0.2:9002",
      "c local:5003 -> 127.0.0.3:9003",
    ]);
    assert.equal(c.last!.find((s) => s.name === "c")!.settings.balance, "least_conn");
    await until(() => listReqs(emu).length >= 2, "second list request");
    const [first, second] = listReqs(emu);
    assert.equal(first!.query.index, undefined, "C1: the first read does not block");
    assert.equal(second!.query.index, emu.index().toString(), "then it blocks on the index");
    assert.equal(second!.query.wait, "1000ms");
    assert.equal(first!.query.filter, 'ServiceTags contains "sluice"');
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
    await until(() => c.snapshots.length === 1 && emu.pending() === 1, "blocked on an empty table");
    emu.register({
      id: "a1",
      name: "a",
      port: 9001,
      tags: ["sluice", "sluice.listener=local:5001"],
    });
    await until(() => c.last?.length === 1, "registration", 1000);
    await until(() => emu.pending() === 1, "blocked again", 1000);
    emu.deregister("a1");
    await until(() => c.last?.length === 0, "deregistration", 1000);
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
    await until(() => c.snapshots.length >= 1, "first snapshot");
    const before = listReqs(emu).length;
    await until(() => listReqs(emu).length >= before + 3, "three more rounds");
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
    await until(() => c.last?.[0]?.backends.length === 2, "two backends");
    emu.setCheck("a2", "critical");
    await until(() => c.last?.[0]?.backends.length === 1, "one backend");
    assert.deepEqual(view(c.last), ["a local:5001 -> 127.0.0.1:9001"]);
    emu.setCheck("a2", "warning"); // warning is not passing either
    await delay(200);
    assert.deepEqual(view(c.last), ["a local:5001 -> 127.0.0.1:9001"]);
    emu.setCheck("a2", "passing");
    await until(() => c.last?.[0]?.backends.length === 2, "back to two");
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
    await until(() => c.last?.length === 2, "two services");
    emu.setCheck("a1", "critical");
    await until(() => c.last?.length === 1, "a dropped");
    assert.deepEqual(view(c.last), ["b local:5002 -> 127.0.0.1:9002"]);
    emu.setNode("node-a", { status: "critical" }); // serfHealth fails: every instance there goes
    await until(() => c.last?.length === 0, "all dropped");
    emu.setNode("node-a", { status: "passing" });
    emu.setCheck("a1", "passing");
    await until(() => c.last?.length === 2, "both back");
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
    await until(() => c.last?.length === 1, "snapshot");
    emu.setTags("a1", ["sluice", "sluice.listener=local:5556"]);
    await until(() => c.last?.[0]?.listeners[0]?.port === 5556, "moved listener");
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
    await until(() => c.snapshots.length === 1 && emu.pending() === 1, "blocked long poll");
    const n = listReqs(emu).length;
    emu.restore(3n);
    await until(() => listReqs(emu).length >= n + 2, "re-read after the restore");
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
    await until(() => c.last?.[0]?.backends.length === 2, "changes after the restore arrive");
  });

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
    await until(() => listReqs(emu).length >= 3, "three list reads");
    assert.equal(listReqs(emu)[1]!.query.index, "1", "C3: 0 becomes 1");
    assert.equal(c.snapshots.length, 1);
    emu.fault({ kind: "no_index", path: "/v1/health/state/" });
    emu.dropPending(); // the long poll in flight had its fault chosen already
    await until(
      () => listReqs(emu).some((r, i) => i > 3 && r.query.index === undefined),
      "a read without index",
    );
    const t0 = Date.now();
    const n0 = listReqs(emu).length;
    await delay(1000);
    const rate = (listReqs(emu).length - n0) / ((Date.now() - t0) / 1000);
    // Without an index every read answers at once: only the bucket (5/s after the burst) paces it.
    assert.ok(rate <= 9, `list reads per second ${rate}`);
    assert.ok(listReqs(emu).slice(n0).every((r) => r.query.index === undefined));
    assert.equal(c.snapshots.length, 1);
  });

  it("T8: 403 ACL not found keeps the table, surfaces the reason and waits at least 30 s", async (t) => {
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
    await until(() => c.snapshots.length === 1 && emu.pending() === 1, "blocked long poll");
    emu.fault({ kind: "status", status: 403, body: "rpc error making call: ACL not found" });
    emu.dropPending();
    await until(() => p.status().lastError?.includes("ACL not found"), "403 surfaced");
    const n = listReqs(emu).length;
    await delay(1200);
    assert.equal(listReqs(emu).length, n, "no retry within the 30 s backoff");
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
    await until(() => p.status().state === "failing", "failing");
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
    await until(() => p.status().lastError, "error");
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
    await until(() => c.snapshots.length === 1 && emu.pending() === 1, "routes");
    emu.acl({ tokens: { tok: [] } }); // the token's policy now hides every service
    emu.dropPending();
    await until(() => p.status().lastError?.includes("filtered by ACLs"), "filtered surfaced");
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
    await until(() => c.snapshots.length === 1, "snapshot");
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
    await until(() => c.snapshots.length === 1 && emu.pending() === 1, "blocked");
    emu.setLeader(false);
    await until(() => p.status().lastError?.includes("No cluster leader"), "500 surfaced");
    assert.equal(c.snapshots.length, 1);
    emu.setLeader(true);
    await until(() => p.status().state === "ok", "recovered");

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
    await until(() => s.c.snapshots.length === 1, "stale read served");
    s.emu.register({
      id: "a2",
      name: "a",
      node: "node-b",
      port: 9002,
      tags: ["sluice", "sluice.listener=local:5001"],
    });
    await until(() => s.c.last?.[0]?.backends.length === 2, "updates without a leader");
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
    await until(() => c.snapshots.length === 1 && emu.pending() === 1, "blocked");
    const idx = listReqs(emu).at(-1)!.query.index;
    // fetch retries a GET cut on a reused keep-alive connection once by itself: cut until the
    // provider sees it.
    for (let i = 0; i < 5 && p.status().errors === 0; i++) {
      const n = emu.requests.length;
      emu.dropPending();
      await until(
        () => p.status().errors! > 0 || (emu.requests.length > n && emu.pending() === 1),
        "a retry or an error",
      );
    }
    assert.equal(p.status().errors, 1, "one error seen");
    assert.match(p.status().lastError!, /connection failed/);
    await until(() => emu.pending() === 1 && p.status().state === "ok", "back to blocking");
    assert.equal(listReqs(emu).at(-1)!.query.index, idx, "index kept across the cut");
    emu.fault({ kind: "html504", afterMs: 100, path: "/v1/health/state/", times: 1 });
    emu.dropPending();
    await until(() => p.status().lastError?.includes("504"), "504 seen");
    assert.match(p.status().lastError!, /HTML/);
    await until(() => p.status().state === "ok", "recovered");
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
    await until(() => c.last?.length === 2, "two services");
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
    await until(() => c.last?.[0]?.backends.length === 2, "a updated");
    assert.deepEqual(view(c.last), [
      "a local:5001 -> 127.0.0.1:9001,127.0.0.1:9011",
      "b local:5002 -> 127.0.0.1:9002",
    ]);
    await until(() => p.status().lastError?.includes("detail read failed for b"), "surfaced");
    emu.clearFaults();
    await until(() => c.last?.[1]?.backends.length === 2, "b updated once it answers");
  });

  it("T13: a namespace against Consul CE is a config error, surfaced without a hot loop", async (t) => {
    const { emu, start, p, log } = await setup(t, { config: { namespace: "team-a" } });
    start();
    await until(() => p.status().state === "failing", "failing");
    assert.match(
      p.status().lastError!,
      /400 Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature/,
    );
    assert.match(p.status().lastError!, /routing\.consul/);
    await delay(1000);
    assert.equal(listReqs(emu).length, 1, "no retry loop");
    assert.ok(log.lines.some((l) => l.level === "error"));
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
    await until(() => c.snapshots.length === 1, "snapshot");
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
    await until(() => e.c.snapshots.length === 1, "enterprise snapshot");
    assert.deepEqual(view(e.c.last), ["a local:5001 -> 127.0.0.1:9001"]);
    assert.ok(e.emu.requests.every((r) => r.query.ns === "team-a"));
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
    await until(() => c.last?.length === 2, "snapshot");
    assert.deepEqual(view(c.last), [
      "a local:5001 -> [2001:db8::7]:9001,[2001:db8::9]:9002",
      "b local:5002 -> 10.1.2.3:9003",
    ]);
    void emu;
  });

  it("T17: a churning index cannot push the request rate above the token bucket", async (t) => {
    const { emu, c, start } = await setup(t, {
      bucket: { burst: 2, refillMs: 250 },
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
    await until(() => c.snapshots.length === 1, "snapshot");
    const n0 = listReqs(emu).length;
    const t0 = Date.now();
    let i = 0;
    const churn = setInterval(() => emu.setCheck("a1", "passing", `output ${i++}`), 20);
    t.after(() => clearInterval(churn));
    await delay(1500);
    clearInterval(churn);
    const elapsed = Date.now() - t0;
    const reqs = listReqs(emu).length - n0;
    // The burst of 2 was spent on the first rounds; refill 4/s afterwards.
    assert.ok(reqs <= 2 + Math.ceil(elapsed / 250) + 1, `${reqs} list reads in ${elapsed} ms`);
    assert.ok(reqs >= 2, "updates still flow");
    assert.equal(c.snapshots.length, 1, "check output churn changes no route");
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
    await until(() => c.snapshots.length === 1, "snapshot");
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
    await until(() => c.snapshots.length === 1, "snapshot");
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
    await until(() => c.snapshots.length === 1, "snapshot");
    assert.deepEqual(view(c.last), ["b local:5002 -> 127.0.0.1:9002"]);
    const n = listReqs(emu).length;
    await until(() => listReqs(emu).length >= n + 2, "more rounds");
    const warnings = log.lines.filter((l) => l.msg === "route problem");
    assert.equal(warnings.length, 1, "logged once, not once per round");
    assert.equal(warnings[0]!.fields.service, "a");
    assert.equal(warnings[0]!.fields.field, "balance");
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
    t.after(() => p.stop());
    p.start(() => {});
    await until(() => p.status().errors! >= 3, "several failures");
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
    await until(() => c.snapshots.length === 1 && emu.pending() === 1, "blocked");
    emu.fault({ kind: "garbage", path: "/v1/health/state/", times: 1 });
    emu.dropPending();
    await until(() => p.status().lastError?.includes("not JSON"), "garbage surfaced");
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
    await until(() => c.snapshots.length === 1 && emu.pending() === 1, "blocked");
    const t0 = Date.now();
    await p.stop();
    assert.ok(Date.now() - t0 < 2000);
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
