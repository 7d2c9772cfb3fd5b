// Conformance of the Consul and Nomad emulators to the protocol reference (section 8): the
// provider tests are only as good as these servers.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { startConsulEmulator } from "../_support/consul_emulator.ts";
import { startNomadEmulator } from "../_support/nomad_emulator.ts";
import { parseGoDuration } from "../_support/emulator_http.ts";
import { compileFilter } from "../_support/consul_filter.ts";
import { waitFor } from "../_support/wait.ts";
import { whenDone } from "../_support/cleanup.ts";

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, text, headers: res.headers, json: () => JSON.parse(text) };
}

describe("emulator helpers", () => {
  it("parseGoDuration accepts Go durations and rejects bare numbers", () => {
    assert.equal(parseGoDuration("10s"), 10_000);
    assert.equal(parseGoDuration("300000ms"), 300_000);
    assert.equal(parseGoDuration("1m30s"), 90_000);
    assert.equal(parseGoDuration("1.5h"), 5_400_000);
    assert.equal(parseGoDuration("0"), 0);
    assert.equal(parseGoDuration("60"), undefined);
    assert.equal(parseGoDuration("5 s"), undefined);
    assert.equal(parseGoDuration(""), undefined);
    assert.equal(parseGoDuration("10x"), undefined);
  });

  it("filters: list membership is exact, string contains is substring, unknown selectors fail", () => {
    const f = compileFilter('ServiceTags contains "dill" and not (Status == "critical")', [
      "ServiceTags",
      "Status",
    ]);
    assert.equal(f({ ServiceTags: ["dill"], Status: "passing" }), true);
    assert.equal(f({ ServiceTags: ["dill.listener=local:1"], Status: "passing" }), false);
    assert.equal(f({ ServiceTags: ["dill"], Status: "critical" }), false);
    assert.equal(compileFilter('"x" in Name or Name is empty', ["Name"])({ Name: "axb" }), true);
    assert.equal(
      compileFilter("ServiceTags contains `dill`", ["ServiceTags"])({ ServiceTags: ["dill"] }),
      true,
    );
    assert.throws(() => compileFilter('Bogus == "1"', ["Name"]), /Selector "Bogus" is not valid/);
  });
});

describe("consul emulator", { timeout: 20_000 }, () => {
  it("answers index 0 at once with an index >= 1, and [] for unknown names", async (t) => {
    const emu = await startConsulEmulator({ jitter: false });
    whenDone(t, () => emu.close());
    const r = await get(`${emu.url}/v1/health/service/nope`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), []);
    assert.ok(BigInt(r.headers.get("x-consul-index")!) >= 1n);
    assert.equal(r.headers.get("x-consul-knownleader"), "true");
    assert.equal(r.headers.get("x-consul-lastcontact"), "0");
  });

  it("a blocking query returns early when the data changes", async (t) => {
    const emu = await startConsulEmulator({ jitter: false });
    whenDone(t, () => emu.close());
    emu.register({ id: "a1", name: "a", port: 1, tags: ["x"] });
    const first = await get(`${emu.url}/v1/health/service/a`);
    const idx = first.headers.get("x-consul-index")!;
    const t0 = Date.now();
    const pending = get(`${emu.url}/v1/health/service/a?index=${idx}&wait=10s`);
    setTimeout(() => emu.setCheck("a1", "critical"), 100);
    const r = await pending;
    assert.ok(Date.now() - t0 < 5000, "woke before the wait ended");
    assert.ok(BigInt(r.headers.get("x-consul-index")!) > BigInt(idx));
    assert.equal(
      r.json()[0].Checks.find((c: { CheckID: string }) => c.CheckID === "service:a1").Status,
      "critical",
    );
  });

  it("a blocking query times out with the same index and body", async (t) => {
    const emu = await startConsulEmulator({ jitter: false });
    whenDone(t, () => emu.close());
    emu.register({ id: "a1", name: "a", port: 1, tags: ["x"] });
    const first = await get(`${emu.url}/v1/health/service/a`);
    const idx = first.headers.get("x-consul-index")!;
    const t0 = Date.now();
    const r = await get(`${emu.url}/v1/health/service/a?index=${idx}&wait=300ms`);
    assert.ok(Date.now() - t0 >= 250, "held for the wait");
    assert.equal(r.headers.get("x-consul-index"), idx);
    assert.equal(r.text, first.text);
  });

  it("an index above the current one blocks for the wait, then returns the lower index", async (t) => {
    const emu = await startConsulEmulator({ jitter: false });
    whenDone(t, () => emu.close());
    const t0 = Date.now();
    const r = await get(`${emu.url}/v1/catalog/services?index=999999&wait=200ms`);
    assert.ok(Date.now() - t0 >= 150);
    assert.ok(BigInt(r.headers.get("x-consul-index")!) < 999999n);
  });

  it("rejects malformed requests with Consul's 400 texts, verbatim", async (t) => {
    const emu = await startConsulEmulator();
    whenDone(t, () => emu.close());
    const cases: [string, string][] = [
      ["/v1/health/service/a?index=1&wait=60", "Invalid wait time"],
      ["/v1/health/service/a?index=abc", "Invalid index"],
      ["/v1/health/service/a?passing=maybe", "Invalid value for ?passing"],
      [
        "/v1/health/service/a?stale&consistent",
        "Cannot specify ?stale with ?consistent, conflicting semantics.",
      ],
      [
        "/v1/health/service/a?ns=default",
        'Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature',
      ],
      ["/v1/health/service/", "Missing service name"],
    ];
    for (const [path, text] of cases) {
      const r = await get(emu.url + path);
      assert.equal(r.status, 400, path);
      assert.equal(r.text, text, path);
      assert.match(r.headers.get("content-type")!, /^text\/plain/);
    }
    const bad = await get(
      `${emu.url}/v1/health/state/any?filter=${encodeURIComponent('Nope == "x"')}`,
    );
    assert.equal(bad.status, 500);
    assert.match(bad.text, /^Failed to create boolean expression evaluator/);
    assert.equal((await get(`${emu.url}/v1/nothing`)).status, 404);
  });

  it("?passing drops an instance when any check, serfHealth included, is not passing", async (t) => {
    const emu = await startConsulEmulator();
    whenDone(t, () => emu.close());
    emu.setNode("n2", { address: "10.0.0.2" });
    emu.setNode("n3", { address: "10.0.0.3" });
    emu.register({ id: "a1", name: "a", port: 1 });
    emu.register({ id: "a2", name: "a", node: "n2", port: 1 });
    emu.register({ id: "a3", name: "a", node: "n3", port: 1, check: null });
    emu.setCheck("a2", "warning");
    const ids = async () =>
      (await get(`${emu.url}/v1/health/service/a?passing`)).json().map((
        e: { Service: { ID: string } },
      ) => e.Service.ID).sort();
    assert.deepEqual(await ids(), ["a1", "a3"], "warning fails; no service check still passes");
    emu.setNode("n3", { status: "critical" });
    assert.deepEqual(await ids(), ["a1"]);
    const all = (await get(`${emu.url}/v1/health/service/a`)).json();
    assert.equal(all.length, 3);
  });

  it("health/state returns checks (node checks included) and applies the tag filter", async (t) => {
    const emu = await startConsulEmulator();
    whenDone(t, () => emu.close());
    emu.register({ id: "a1", name: "a", port: 1, tags: ["dill"] });
    emu.register({ id: "b1", name: "b", port: 1, tags: ["other"] });
    const any = (await get(`${emu.url}/v1/health/state/any`)).json();
    assert.ok(any.some((c: { CheckID: string }) => c.CheckID === "serfHealth"));
    const f = encodeURIComponent('ServiceTags contains "dill"');
    const dill = (await get(`${emu.url}/v1/health/state/passing?filter=${f}`)).json();
    assert.deepEqual(dill.map((c: { ServiceName: string }) => c.ServiceName), ["a"]);
  });

  it("ACLs: unknown token 403, filtered token 200 with the header, anonymous without it", async (t) => {
    const emu = await startConsulEmulator();
    whenDone(t, () => emu.close());
    emu.register({ id: "a1", name: "a", port: 1 });
    emu.acl({ enabled: true, defaultPolicy: "deny", tokens: { all: "all", some: ["b"] } });
    const u = `${emu.url}/v1/health/service/a`;
    const unknown = await get(u, { "X-Consul-Token": "nope" });
    assert.equal(unknown.status, 403);
    assert.equal(unknown.text, "ACL not found");
    const some = await get(u, { "X-Consul-Token": "some" });
    assert.deepEqual(some.json(), []);
    assert.equal(some.headers.get("x-consul-results-filtered-by-acls"), "true");
    const anon = await get(u);
    assert.deepEqual(anon.json(), []);
    assert.equal(anon.headers.get("x-consul-results-filtered-by-acls"), null);
    assert.equal((await get(u, { Authorization: "Bearer all" })).json().length, 1);
  });

  it("no leader: 500 for default reads, stale reads served with KnownLeader false", async (t) => {
    const emu = await startConsulEmulator();
    whenDone(t, () => emu.close());
    emu.setLeader(false);
    const r = await get(`${emu.url}/v1/catalog/services`);
    assert.equal(r.status, 500);
    assert.equal(r.text, "No cluster leader");
    const s = await get(`${emu.url}/v1/catalog/services?stale`);
    assert.equal(s.status, 200);
    assert.equal(s.headers.get("x-consul-knownleader"), "false");
    assert.equal(s.headers.get("x-consul-effective-consistency"), "stale");
  });

  it("faults: index 0, missing index, 429, 504 HTML, restore, dropped long poll", async (t) => {
    const emu = await startConsulEmulator({ jitter: false });
    whenDone(t, () => emu.close());
    const u = `${emu.url}/v1/catalog/services`;
    emu.fault({ kind: "index_zero", times: 1 });
    assert.equal((await get(u)).headers.get("x-consul-index"), "0");
    emu.fault({ kind: "no_index", times: 1 });
    assert.equal((await get(u)).headers.get("x-consul-index"), null);
    emu.fault({ kind: "status", status: 429, times: 1 });
    assert.equal((await get(u)).status, 429);
    emu.fault({ kind: "html504", afterMs: 10, times: 1 });
    const h = await get(u);
    assert.equal(h.status, 504);
    assert.match(h.text, /<html>/);
    const before = BigInt((await get(u)).headers.get("x-consul-index")!);
    emu.restore(2n);
    assert.ok(BigInt((await get(u)).headers.get("x-consul-index")!) < before);
    let outcome = "";
    const pending = fetch(`${u}?index=2&wait=10s`).then(() => "answered", () => "cut");
    void pending.then((o) => (outcome = o));
    // A client may retry a GET cut on a reused keep-alive connection once by itself.
    for (let round = 0; round < 3 && outcome === ""; round++) {
      await waitFor(() => emu.pending() > 0 || outcome !== "", {
        intervalMs: 10,
        what: "the long poll to be parked or answered",
      });
      if (outcome === "") assert.equal(emu.dropPending(), 1);
      // Either the cut reaches the client, or it retried once by itself (the next round).
      await waitFor(() => outcome !== "", { timeoutMs: 1000, what: "the cut to reach the client" })
        .catch(() => {});
    }
    assert.equal(await pending, "cut");
  });

  it("the control API registers and deregisters over HTTP", async (t) => {
    const emu = await startConsulEmulator();
    whenDone(t, () => emu.close());
    const post = (p: string, b: unknown) =>
      fetch(`${emu.url}/_emu/${p}`, { method: "POST", body: JSON.stringify(b) }).then((r) =>
        r.json()
      );
    await post("register", {
      id: "w1",
      name: "web",
      address: "127.0.0.1",
      port: 9000,
      tags: ["sluice"],
    });
    assert.equal((await get(`${emu.url}/v1/health/service/web?passing`)).json().length, 1);
    await post("check", { id: "w1", status: "critical" });
    assert.equal((await get(`${emu.url}/v1/health/service/web?passing`)).json().length, 0);
    await post("deregister", { id: "w1" });
    assert.equal((await get(`${emu.url}/v1/health/service/web`)).json().length, 0);
  });
});

describe("nomad emulator", { timeout: 20_000 }, () => {
  it("lists union tags per namespace; namespace=* only on the list", async (t) => {
    const emu = await startNomadEmulator({ jitter: false });
    whenDone(t, () => emu.close());
    emu.register({ id: "1", name: "api", address: "10.0.0.1", port: 1, tags: ["a"] });
    emu.register({ id: "2", name: "api", address: "10.0.0.2", port: 1, tags: ["b"] });
    emu.register({
      id: "3",
      name: "api",
      namespace: "prod",
      address: "10.0.0.3",
      port: 1,
      tags: null,
    });
    const list = (await get(`${emu.url}/v1/services?namespace=*`)).json();
    assert.deepEqual(list.map((g: { Namespace: string }) => g.Namespace), ["default", "prod"]);
    assert.deepEqual([...list[0].Services[0].Tags].sort(), ["a", "b"]);
    assert.deepEqual((await get(`${emu.url}/v1/services`)).json().length, 1);
    assert.deepEqual((await get(`${emu.url}/v1/services?namespace=nope`)).json(), []);
    assert.deepEqual((await get(`${emu.url}/v1/service/api?namespace=*`)).json(), []);
    const prod = (await get(`${emu.url}/v1/service/api?namespace=prod`)).json();
    assert.equal(prod.length, 1);
    assert.equal(prod[0].Tags, null);
    assert.equal((await get(`${emu.url}/v1/service/`)).text, "missing service name");
  });

  it("blocks on X-Nomad-Index and validates stale, index and wait", async (t) => {
    const emu = await startNomadEmulator({ jitter: false });
    whenDone(t, () => emu.close());
    const first = await get(`${emu.url}/v1/services`);
    const idx = first.headers.get("x-nomad-index")!;
    assert.ok(BigInt(idx) >= 1n);
    const pending = get(`${emu.url}/v1/services?index=${idx}&wait=10s`);
    setTimeout(() => emu.register({ name: "x", address: "10.0.0.1", port: 1 }), 100);
    const r = await pending;
    assert.ok(BigInt(r.headers.get("x-nomad-index")!) > BigInt(idx));
    assert.equal(
      (await get(`${emu.url}/v1/services?stale=maybe`)).text,
      "Expect `true` or `false` for `stale` query string parameter",
    );
    assert.equal((await get(`${emu.url}/v1/services?index=x`)).text, "Invalid index");
    assert.equal((await get(`${emu.url}/v1/services?index=1&wait=5`)).text, "Invalid wait time");
  });

  it("ACLs: unknown token, denied namespace, and silently skipped namespaces under *", async (t) => {
    const emu = await startNomadEmulator();
    whenDone(t, () => emu.close());
    emu.register({ name: "a", address: "10.0.0.1", port: 1 });
    emu.register({ name: "b", namespace: "prod", address: "10.0.0.2", port: 1 });
    emu.acl({ enabled: true, tokens: { dev: ["default"] } });
    const unknown = await get(`${emu.url}/v1/services`, { "X-Nomad-Token": "x" });
    assert.equal(unknown.status, 403);
    assert.equal(unknown.text, "ACL token not found");
    const denied = await get(`${emu.url}/v1/services?namespace=prod`, { "X-Nomad-Token": "dev" });
    assert.equal(denied.status, 403);
    assert.equal(denied.text, "Permission denied");
    const star = (await get(`${emu.url}/v1/services?namespace=*`, { "X-Nomad-Token": "dev" }))
      .json();
    assert.deepEqual(star.map((g: { Namespace: string }) => g.Namespace), ["default"]);
  });
});
