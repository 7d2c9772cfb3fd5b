// The Nomad provider against the Nomad emulator over real HTTP: blocking on X-Nomad-Index,
// per-registration tag checks (T14), namespaces (T15), IPv6 (T16), churn (T17), ACL errors,
// index resets, and mutual TLS with a throwaway CA.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNomadProvider } from "../../src/providers/nomad.ts";
import type { NomadProviderConfig } from "../../src/config/types.ts";
import { getRuntime } from "../../src/runtime/detect.ts";
import { SluiceError } from "../../src/errors.ts";
import { type NomadEmulator, startNomadEmulator } from "../_support/nomad_emulator.ts";
import { captureLogger, collector, delay, FAST, logText, until, view } from "./_harness.ts";

const rt = getRuntime();

function config(url: string, over: Partial<NomadProviderConfig> = {}): NomadProviderConfig {
  return {
    address: url,
    token: "",
    namespace: "",
    waitMs: 1000,
    stale: false,
    tag: "sluice",
    tls: { insecure: false },
    ...over,
  };
}

type T = { after(fn: () => unknown): void };

async function setup(
  t: T,
  o: {
    config?: Partial<NomadProviderConfig>;
    emu?: Parameters<typeof startNomadEmulator>[0];
    bucket?: { burst: number; refillMs: number };
    before?: (emu: NomadEmulator) => void;
  } = {},
) {
  const emu = await startNomadEmulator({ jitter: false, shuffle: true, ...o.emu });
  t.after(() => emu.close());
  o.before?.(emu);
  const log = captureLogger();
  const p = createNomadProvider({
    rt,
    config: config(emu.url, o.config),
    log,
    bucket: o.bucket ?? FAST.bucket,
    pacing: FAST.pacing,
    random: () => 0.5,
  });
  const c = collector();
  t.after(() => p.stop());
  return { emu, log, p, c, start: () => p.start((s) => c.onSnapshot(s)) };
}

const listReqs = (emu: NomadEmulator) => emu.requests.filter((r) => r.path === "/v1/services");

describe("nomad provider", { timeout: 30_000 }, () => {
  it("routes tagged services, then blocks on X-Nomad-Index with wait in ms", async (t) => {
    const { emu, c, start, p } = await setup(t, {
      config: { stale: true },
      before(emu) {
        emu.register({
          id: "a1",
          name: "api",
          address: "127.0.0.1",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.register({
          id: "a2",
          name: "api",
          address: "127.0.0.2",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001", "sluice.weight=3"],
        });
        emu.register({ id: "x1", name: "other", address: "127.0.0.3", port: 9002, tags: null });
      },
    });
    start();
    await until(() => c.snapshots.length === 1, "snapshot");
    assert.deepEqual(view(c.last), ["api local:5001 -> 127.0.0.1:9001,127.0.0.2:9001/w3"]);
    await until(() => listReqs(emu).length >= 2, "second list read");
    const [first, second] = listReqs(emu);
    assert.equal(first!.query.index, undefined);
    assert.equal(second!.query.index, emu.index().toString());
    assert.equal(second!.query.wait, "1000ms");
    assert.ok(emu.requests.every((r) => r.query.stale === "true"));
    assert.ok(emu.requests.every((r) => !("namespace" in r.query) || r.path !== "/v1/services"));
    assert.equal(p.status().index, emu.index().toString());
    emu.deregister("a2");
    await until(() => c.last?.[0]?.backends.length === 1, "deregistration applied");
    emu.deregister("a1");
    await until(() => c.last?.length === 0, "service gone");
  });

  it("T14: only registrations carrying the tag are routed, whatever the list's tag union says", async (t) => {
    const { c, start, emu } = await setup(t, {
      before(emu) {
        emu.register({
          id: "old",
          name: "api",
          address: "127.0.0.1",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.register({ id: "new", name: "api", address: "127.0.0.2", port: 9001, tags: ["v2"] });
      },
    });
    start();
    await until(() => c.snapshots.length === 1, "snapshot");
    assert.deepEqual(view(c.last), ["api local:5001 -> 127.0.0.1:9001"]);
    emu.deregister("old"); // the deploy finishes: the union no longer has the tag
    await until(() => c.last?.length === 0, "gone");
    assert.ok(
      !emu.requests.slice(-1)[0]!.path.startsWith("/v1/service/"),
      "no detail read for an untagged union",
    );
  });

  it('T15: namespace = "*" lists every namespace and reads each service in its own', async (t) => {
    const { emu, c, start } = await setup(t, {
      config: { namespace: "*" },
      before(emu) {
        emu.register({
          id: "d1",
          name: "api",
          address: "127.0.0.1",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.register({
          id: "p1",
          name: "api",
          namespace: "prod",
          address: "127.0.0.2",
          port: 9002,
          tags: ["sluice", "sluice.listener=local:5002"],
        });
      },
    });
    start();
    await until(() => c.snapshots.length === 1, "snapshot");
    assert.deepEqual(view(c.last), [
      "api local:5001 -> 127.0.0.1:9001",
      "prod/api local:5002 -> 127.0.0.2:9002",
    ]);
    assert.equal(listReqs(emu)[0]!.query.namespace, "*");
    const details = emu.requests.filter((r) => r.path === "/v1/service/api").map((r) =>
      r.query.namespace
    ).sort();
    assert.deepEqual(details.slice(0, 2), ["default", "prod"]);
    assert.ok(!details.includes("*"));
  });

  it("a single namespace is listed and read by name", async (t) => {
    const { emu, c, start } = await setup(t, {
      config: { namespace: "prod" },
      before(emu) {
        emu.register({
          id: "d1",
          name: "api",
          address: "127.0.0.1",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
        emu.register({
          id: "p1",
          name: "api",
          namespace: "prod",
          address: "127.0.0.2",
          port: 9002,
          tags: ["sluice", "sluice.listener=local:5002"],
        });
      },
    });
    start();
    await until(() => c.snapshots.length === 1, "snapshot");
    assert.deepEqual(view(c.last), ["prod/api local:5002 -> 127.0.0.2:9002"]);
    assert.ok(emu.requests.every((r) => r.query.namespace === "prod"));
  });

  it("T16: IPv6 registrations are bracketed", async (t) => {
    const { c, start } = await setup(t, {
      before(emu) {
        emu.register({
          id: "a1",
          name: "api",
          address: "2001:db8::7",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
      },
    });
    start();
    await until(() => c.snapshots.length === 1, "snapshot");
    assert.deepEqual(view(c.last), ["api local:5001 -> [2001:db8::7]:9001"]);
  });

  it("403 ACL token not found and Permission denied are surfaced; the token stays secret", async (t) => {
    const secret = "nomad-secret-0042";
    const { emu, start, p, log } = await setup(t, {
      config: { token: secret },
      before(emu) {
        emu.acl({ enabled: true, tokens: { other: "*" } });
      },
    });
    start();
    await until(() => p.status().lastError, "error");
    assert.match(p.status().lastError!, /403 ACL token not found/);
    assert.equal(emu.requests[0]!.headers["x-nomad-token"], secret);
    assert.ok(!emu.requests[0]!.rawQuery.includes(secret));
    assert.ok(!logText(log.lines).includes(secret));
    assert.ok(!JSON.stringify(p.status()).includes(secret));
    await delay(500);
    assert.equal(listReqs(emu).length, 1, "no retry before the 403 backoff");

    const s = await setup(t, {
      config: { token: "tok", namespace: "prod" },
      before(emu) {
        emu.acl({ enabled: true, tokens: { tok: ["default"] } });
      },
    });
    s.start();
    await until(() => s.p.status().lastError, "error");
    assert.match(s.p.status().lastError!, /403 Permission denied/);
  });

  it("an index going backwards resets to a plain read; the table is re-read", async (t) => {
    const { emu, c, start } = await setup(t, {
      emu: { startIndex: 50n },
      config: { waitMs: 2000 },
      before(emu) {
        emu.register({
          id: "a1",
          name: "api",
          address: "127.0.0.1",
          port: 9001,
          tags: ["sluice", "sluice.listener=local:5001"],
        });
      },
    });
    start();
    await until(() => c.snapshots.length === 1 && emu.pending() === 1, "blocked");
    const n = listReqs(emu).length;
    emu.restore(5n);
    await until(() => listReqs(emu).length >= n + 2, "re-read");
    const after = listReqs(emu).slice(n);
    assert.equal(after[0]!.query.index, undefined);
    assert.equal(after[1]!.query.index, "5");
    emu.register({
      id: "a2",
      name: "api",
      address: "127.0.0.2",
      port: 9001,
      tags: ["sluice", "sluice.listener=local:5001"],
    });
    await until(() => c.last?.[0]?.backends.length === 2, "later changes arrive");
  });

  it("No cluster leader keeps the table; a stale client keeps reading", async (t) => {
    const { emu, c, start, p } = await setup(t, {
      before(emu) {
        emu.register({
          id: "a1",
          name: "api",
          address: "127.0.0.1",
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
  });

  it("T17: churning registrations cannot push the request rate above the token bucket", async (t) => {
    const { emu, c, start } = await setup(t, {
      bucket: { burst: 2, refillMs: 250 },
      before(emu) {
        emu.register({
          id: "a1",
          name: "api",
          address: "127.0.0.1",
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
    const churn = setInterval(
      () =>
        emu.register({
          id: `x${i % 3}`,
          name: `noise${i++ % 3}`,
          address: "127.0.0.9",
          port: 1,
          tags: ["x"],
        }),
      20,
    );
    t.after(() => clearInterval(churn));
    await delay(1500);
    clearInterval(churn);
    const elapsed = Date.now() - t0;
    const reqs = listReqs(emu).length - n0;
    assert.ok(reqs <= 2 + Math.ceil(elapsed / 250) + 1, `${reqs} list reads in ${elapsed} ms`);
    assert.ok(reqs >= 2);
  });

  it("a failing detail read keeps that service's previous registrations", async (t) => {
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
          address: "127.0.0.1",
          port: 9002,
          tags: ["sluice", "sluice.listener=local:5002"],
        });
      },
    });
    start();
    await until(() => c.last?.length === 2, "two services");
    emu.fault({ kind: "status", status: 500, body: "rpc error", path: "/v1/service/b" });
    emu.register({
      id: "a2",
      name: "a",
      address: "127.0.0.2",
      port: 9001,
      tags: ["sluice", "sluice.listener=local:5001"],
    });
    await until(() => c.last?.[0]?.backends.length === 2, "a updated");
    assert.deepEqual(view(c.last)[1], "b local:5002 -> 127.0.0.1:9002");
    await until(() => p.status().lastError?.includes("detail read failed for b"), "surfaced");
  });

  it("a missing address is a CONFIG error naming routing.nomad.address", () => {
    assert.throws(
      () => createNomadProvider({ rt, config: config(""), log: captureLogger() }),
      (e: unknown) =>
        e instanceof SluiceError && e.code === "CONFIG" &&
        /routing\.nomad\.address/.test(e.message),
    );
  });

  it("speaks mutual TLS with a CA, a client certificate and key", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-nomad-tls-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const ssl = (...args: string[]) => {
      const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
    };
    try {
      ssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
      );
    } catch (err) {
      // No openssl: nothing to test with (install_peers.sh lists it).
      assert.fail(`openssl is needed for this test: ${err}`);
    }
    writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
    ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=server.global.nomad",
    );
    ssl(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "2",
      "-extfile",
      "server.ext",
    );
    ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "client.key",
      "-out",
      "client.csr",
      "-subj",
      "/CN=sluice",
    );
    ssl(
      "x509",
      "-req",
      "-in",
      "client.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "client.pem",
      "-days",
      "2",
      "-extfile",
      "client.ext",
    );
    const pem = (f: string) => readFileSync(join(dir, f), "utf8");

    const emu = await startNomadEmulator({
      jitter: false,
      tls: {
        key: pem("server.key"),
        cert: pem("server.pem"),
        ca: pem("ca.pem"),
        requireClientCert: true,
      },
    });
    t.after(() => emu.close());
    emu.register({
      id: "a1",
      name: "api",
      address: "127.0.0.1",
      port: 9001,
      tags: ["sluice", "sluice.listener=local:5001"],
    });
    assert.match(emu.url, /^https:/);

    const log = captureLogger();
    const good = createNomadProvider({
      rt,
      config: config(emu.url, {
        tls: {
          ca: pem("ca.pem"),
          cert: pem("client.pem"),
          key: pem("client.key"),
          insecure: false,
        },
      }),
      log,
      ...FAST,
    });
    t.after(() => good.stop());
    const c = collector();
    good.start((s) => c.onSnapshot(s));
    await until(() => c.snapshots.length === 1, "snapshot over mTLS", 8000);
    assert.deepEqual(view(c.last), ["api local:5001 -> 127.0.0.1:9001"]);

    // Without a client certificate the server refuses the handshake.
    const bad = createNomadProvider({
      rt,
      config: config(emu.url, { tls: { ca: pem("ca.pem"), insecure: false } }),
      log: captureLogger(),
      ...FAST,
    });
    t.after(() => bad.stop());
    bad.start(() => assert.fail("no snapshot without a client certificate"));
    await until(() => bad.status().lastError, "handshake refused", 8000);
    assert.equal(bad.status().state, "failing");
  });
});
