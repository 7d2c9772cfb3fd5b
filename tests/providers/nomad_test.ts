// The Nomad provider against the Nomad emulator over real HTTP: blocking on X-Nomad-Index,
// per-registration tag checks (T14), namespaces (T15), IPv6 (T16), ACL errors, index resets.
// Churn (T17) and least waits are in pacing_test.ts; mutual TLS in nomad_tls_test.ts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createNomadProvider } from "../../src/providers/nomad.ts";
import { SluiceError } from "../../src/errors.ts";
import { captureLogger, logText, view } from "./_harness.ts";
import {
  nomadConfig as config,
  nomadListReqs as listReqs,
  rt,
  setupNomad as setup,
} from "./_setup.ts";
import { waitFor } from "../_support/wait.ts";

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
    await waitFor(() => c.snapshots.length === 1, { what: "snapshot" });
    assert.deepEqual(view(c.last), ["api local:5001 -> 127.0.0.1:9001,127.0.0.2:9001/w3"]);
    await waitFor(() => listReqs(emu).length >= 2, { what: "second list read" });
    const [first, second] = listReqs(emu);
    assert.equal(first!.query.index, undefined);
    assert.equal(second!.query.index, emu.index().toString());
    assert.equal(second!.query.wait, "1000ms");
    assert.ok(emu.requests.every((r) => r.query.stale === "true"));
    assert.ok(emu.requests.every((r) => !("namespace" in r.query) || r.path !== "/v1/services"));
    assert.equal(p.status().index, emu.index().toString());
    emu.deregister("a2");
    await waitFor(() => c.last?.[0]?.backends.length === 1, { what: "deregistration applied" });
    emu.deregister("a1");
    await waitFor(() => c.last?.length === 0, { what: "service gone" });
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
    await waitFor(() => c.snapshots.length === 1, { what: "snapshot" });
    assert.deepEqual(view(c.last), ["api local:5001 -> 127.0.0.1:9001"]);
    emu.deregister("old"); // the deploy finishes: the union no longer has the tag
    await waitFor(() => c.last?.length === 0, { what: "gone" });
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
    await waitFor(() => c.snapshots.length === 1, { what: "snapshot" });
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
    await waitFor(() => c.snapshots.length === 1, { what: "snapshot" });
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
    await waitFor(() => c.snapshots.length === 1, { what: "snapshot" });
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
    await waitFor(() => p.status().lastError, { what: "error" });
    assert.match(p.status().lastError!, /403 ACL token not found/);
    assert.equal(emu.requests[0]!.headers["x-nomad-token"], secret);
    assert.ok(!emu.requests[0]!.rawQuery.includes(secret));
    assert.ok(!logText(log.lines).includes(secret));
    assert.ok(!JSON.stringify(p.status()).includes(secret));
    // The least wait before a retry is checked with an injected clock in pacing_test.ts.

    const s = await setup(t, {
      config: { token: "tok", namespace: "prod" },
      before(emu) {
        emu.acl({ enabled: true, tokens: { tok: ["default"] } });
      },
    });
    s.start();
    await waitFor(() => s.p.status().lastError, { what: "error" });
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
    await waitFor(() => c.snapshots.length === 1 && emu.pending() === 1, { what: "blocked" });
    const n = listReqs(emu).length;
    emu.restore(5n);
    await waitFor(() => listReqs(emu).length >= n + 2, { what: "re-read" });
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
    await waitFor(() => c.last?.[0]?.backends.length === 2, { what: "later changes arrive" });
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
    await waitFor(() => c.snapshots.length === 1 && emu.pending() === 1, { what: "blocked" });
    emu.setLeader(false);
    await waitFor(() => p.status().lastError?.includes("No cluster leader"), {
      what: "500 surfaced",
    });
    assert.equal(c.snapshots.length, 1);
    emu.setLeader(true);
    await waitFor(() => p.status().state === "ok", { what: "recovered" });
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
    await waitFor(() => c.last?.length === 2, { what: "two services" });
    emu.fault({ kind: "status", status: 500, body: "rpc error", path: "/v1/service/b" });
    emu.register({
      id: "a2",
      name: "a",
      address: "127.0.0.2",
      port: 9001,
      tags: ["sluice", "sluice.listener=local:5001"],
    });
    await waitFor(() => c.last?.[0]?.backends.length === 2, { what: "a updated" });
    assert.deepEqual(view(c.last)[1], "b local:5002 -> 127.0.0.1:9002");
    await waitFor(() => p.status().lastError?.includes("detail read failed for b"), {
      what: "surfaced",
    });
  });

  it("a missing address is a CONFIG error naming routing.nomad.address", () => {
    assert.throws(
      () => createNomadProvider({ rt, config: config(""), log: captureLogger() }),
      (e: unknown) =>
        e instanceof SluiceError && e.code === "CONFIG" &&
        /routing\.nomad\.address/.test(e.message),
    );
  });
});
