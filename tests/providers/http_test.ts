import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { PacingClock } from "../../src/providers/backoff.ts";
import { createHttpProvider, redactUrl } from "../../src/providers/http.ts";
import { createLogger } from "../../src/log.ts";
import { SluiceError } from "../../src/errors.ts";
import { getRuntime } from "../../src/runtime/detect.ts";
import type { HttpProviderConfig } from "../../src/config/types.ts";
import type { Provider } from "../../src/providers/types.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import { startRoutingServer } from "../_support/http_routing_server.ts";
import { startEmulatorServer } from "../_support/emulator_http.ts";
import { makeTestCerts, type TestCerts } from "../_support/test_certs.ts";
import { captureLogs, createCollector } from "./_snapshots.ts";
import { waitFor } from "../_support/wait.ts";
import { whenDone } from "../_support/cleanup.ts";

const rt = getRuntime();

const TOML = (name: string, port = 21001) =>
  `[[services]]\nname = "${name}"\nlistener = "local:${port}"\nbackends = ["127.0.0.1:9000"]\n`;
const YAML = (name: string, port = 21001) =>
  `services:\n  - name: ${name}\n    listener: local:${port}\n    backends: ["127.0.0.1:9000"]\n`;
const JSON_DOC = (name: string, port = 21001) =>
  JSON.stringify({
    services: [{ name, listener: `local:${port}`, backends: ["127.0.0.1:9000"] }],
  });

function config(endpoint: string, over: Partial<HttpProviderConfig> = {}): HttpProviderConfig {
  return {
    endpoint,
    pollIntervalMs: 40,
    pollTimeoutMs: 3000,
    headers: {},
    maxBytes: 64 * 1024,
    tls: { insecure: false },
    ...over,
  };
}

describe("http provider", () => {
  const servers: { close(): Promise<void> }[] = [];
  const providers: Provider[] = [];
  let quiet: ReturnType<typeof captureLogs>;

  before(() => {
    quiet = captureLogs();
  });
  after(async () => {
    await Promise.all(providers.map((p) => p.stop()));
    await Promise.all(servers.map((s) => s.close()));
    quiet.restore();
  });

  async function server(a: Parameters<typeof startRoutingServer>[1]) {
    const s = await startRoutingServer(rt, a);
    servers.push(s);
    return s;
  }

  function start(cfg: HttpProviderConfig, backoff = { baseMs: 20, maxMs: 100 }) {
    const p = createHttpProvider({
      rt,
      config: cfg,
      log: createLogger("provider.http"),
      backoff,
      random: () => 0.5,
    });
    providers.push(p);
    const c = createCollector();
    p.start(c.push);
    return { p, c };
  }

  async function stop(p: Provider) {
    await p.stop();
  }

  const cases: [string, string, (n: string) => string][] = [
    ["application/json", "json", JSON_DOC],
    ["application/json; charset=utf-8", "json with charset", JSON_DOC],
    ["application/toml", "toml", TOML],
    ["application/toml; charset=UTF-8", "toml with charset", TOML],
    ["application/yaml", "yaml", YAML],
    ["text/yaml", "text/yaml", YAML],
    ["application/x-yaml; charset=utf-8", "x-yaml with charset", YAML],
  ];
  for (const [ct, label, doc] of cases) {
    it(`parses the body by Content-Type: ${ct}`, async () => {
      const s = await server({ body: doc(label), contentType: ct });
      const { p, c } = start(config(s.url("/routing")));
      const snap = await c.waitFor(1);
      assert.deepEqual(snap.map((x) => x.name), [label]);
      assert.equal(p.status().state, "ok");
      assert.equal(p.status().services, 1);
      await stop(p);
    });
  }

  it("falls back to the URL's extension when the Content-Type says nothing useful", async () => {
    const s = await server({ body: YAML("by-ext"), contentType: "text/plain" });
    const a = start(config(s.url("/routes.yaml")));
    assert.equal((await a.c.waitFor(1))[0]?.name, "by-ext");
    await stop(a.p);
    const s2 = await server({ body: TOML("no-type") });
    const b = start(config(s2.url("/routes.toml")));
    assert.equal((await b.c.waitFor(1))[0]?.name, "no-type");
    await stop(b.p);
  });

  it("fails clearly when neither Content-Type nor extension tells the format", async () => {
    const s = await server({ body: TOML("x"), contentType: "text/html" });
    const { p, c } = start(config(s.url("/routing")));
    await waitFor(() => p.status().state === "failing", { timeoutMs: 3000, what: "state failing" });
    assert.match(p.status().lastError ?? "", /Content-Type "text\/html"/);
    assert.equal(c.snaps.length, 0);
    await stop(p);
  });

  it("sends If-None-Match with the ETag and treats 304 as no change", async () => {
    const s = await server({
      body: JSON_DOC("tagged"),
      contentType: "application/json",
      etag: '"v1"',
    });
    const { p, c } = start(config(s.url()));
    await c.waitFor(1);
    await waitFor(() => s.requests.filter((r) => r.status === 304).length >= 3, {
      timeoutMs: 3000,
      what: "three 304s",
    });
    assert.equal(s.requests[0]?.headers["if-none-match"], undefined, "nothing to confirm at first");
    const conditional = s.requests.filter((r) => r.status === 304);
    assert.ok(conditional.every((r) => r.headers["if-none-match"] === '"v1"'));
    assert.equal(c.snaps.length, 1);
    assert.equal(p.status().state, "ok");
    assert.equal(p.status().index, '"v1"');
    // A new version with a new tag is delivered.
    s.set({ body: JSON_DOC("tagged2"), contentType: "application/json", etag: '"v2"' });
    await c.waitFor(2);
    assert.deepEqual(c.names(), ["tagged2"]);
    assert.equal(p.status().index, '"v2"');
    await stop(p);
  });

  it("sends If-Modified-Since with Last-Modified and treats 304 as no change", async () => {
    const lm = "Wed, 21 Oct 2026 07:28:00 GMT";
    const s = await server({
      body: TOML("dated"),
      contentType: "application/toml",
      lastModified: lm,
    });
    const { p, c } = start(config(s.url()));
    await c.waitFor(1);
    await waitFor(() => s.requests.filter((r) => r.status === 304).length >= 3, {
      timeoutMs: 3000,
      what: "three 304s",
    });
    assert.ok(
      s.requests.filter((r) => r.status === 304).every((r) =>
        r.headers["if-modified-since"] === lm
      ),
    );
    assert.equal(c.snaps.length, 1);
    assert.equal(p.status().index, lm);
    await stop(p);
  });

  it("does not deliver again when the body is unchanged", async () => {
    const s = await server({ body: YAML("steady"), contentType: "application/yaml" });
    const { p, c } = start(config(s.url()));
    await c.waitFor(1);
    const index = p.status().index;
    await waitFor(() => s.requests.length >= 5, { timeoutMs: 3000, what: "five polls" });
    assert.equal(c.snaps.length, 1);
    assert.equal(p.status().index, index);
    s.set({ body: YAML("moved"), contentType: "application/yaml" });
    await c.waitFor(2);
    assert.deepEqual(c.names(), ["moved"]);
    await stop(p);
  });

  it("refuses a body over max_bytes, streamed or announced, and keeps the previous routes", async () => {
    const s = await server({ body: TOML("small"), contentType: "application/toml" });
    const { p, c } = start(config(s.url(), { maxBytes: 4096 }));
    await c.waitFor(1);
    const big = TOML("big") + `# ${"x".repeat(20_000)}\n`;
    // Streamed without Content-Length: the counter must stop it.
    s.set({ body: big, contentType: "application/toml", chunks: 10 });
    await waitFor(() => p.status().state === "failing", { timeoutMs: 3000, what: "state failing" });
    assert.match(p.status().lastError ?? "", /larger than max_bytes \(4096 bytes\)/);
    // With a Content-Length: refused before reading.
    s.set({ body: big, contentType: "application/toml" });
    const before = s.requests.length;
    await waitFor(() => s.requests.length >= before + 2, {
      timeoutMs: 3000,
      what: "two more polls",
    });
    assert.equal(p.status().state, "failing");
    assert.equal(c.snaps.length, 1);
    assert.deepEqual(c.names(), ["small"]);
    assert.equal(p.status().services, 1);
    s.set({ body: TOML("small again"), contentType: "application/toml" });
    await c.waitFor(2);
    assert.equal(p.status().state, "ok");
    await stop(p);
  });

  it("keeps its routes while the endpoint is down and recovers when it is back", {
    timeout: 15_000,
  }, async (t) => {
    const logs = captureLogs();
    whenDone(t, logs.restore);
    const s = await server({ body: JSON_DOC("kept"), contentType: "application/json" });
    const { p, c } = start(config(s.url()));
    await c.waitFor(1);
    await s.down();
    await waitFor(() => p.status().state === "failing", { timeoutMs: 5000, what: "state failing" });
    assert.match(p.status().lastError ?? "", /GET http:\/\/127\.0\.0\.1:\d+\/routing/);
    assert.equal(p.status().services, 1);
    assert.equal(c.snaps.length, 1, "a failure never delivers an empty list");
    await s.up();
    await waitFor(() => p.status().state === "ok", { timeoutMs: 5000, what: "state ok again" });
    // Same body as before the outage: nothing new to deliver.
    assert.equal(c.snaps.length, 1);
    const failing = logs.records.filter((r) => r.msg === "provider failing");
    assert.equal(failing.length, 1);
    assert.equal(failing[0]?.kind, "unreachable");
    assert.equal(logs.records.filter((r) => r.msg === "provider recovered").length, 1);
    await stop(p);
  });

  it("sends the custom headers and never logs their values", async (t) => {
    const logs = captureLogs();
    whenDone(t, logs.restore);
    const s = await server({ status: 403, body: "ACL not found for Bearer hdr-secret" });
    const { p } = start(
      config(s.url("/routing?token=qs-secret"), {
        headers: { Authorization: "Bearer hdr-secret", "X-Team": "blue" },
      }),
    );
    await waitFor(() => s.requests.length >= 2, { timeoutMs: 3000, what: "two requests" });
    assert.equal(s.requests[0]?.headers["authorization"], "Bearer hdr-secret");
    assert.equal(s.requests[0]?.headers["x-team"], "blue");
    await waitFor(() => p.status().state === "failing", { timeoutMs: 3000, what: "state failing" });
    assert.match(p.status().lastError ?? "", /HTTP 403.*: ACL not found for \*\*\*$/);
    const everything = JSON.stringify(logs.records) + JSON.stringify(p.status());
    assert.ok(!everything.includes("hdr-secret"));
    assert.ok(!everything.includes("qs-secret"));
    await stop(p);
  });

  it("treats a garbage body as a failure with its line and column, keeping the routes", async () => {
    const s = await server({ body: TOML("fine"), contentType: "application/toml" });
    const { p, c } = start(config(s.url()));
    await c.waitFor(1);
    s.set({ body: '[[services]\nname = "broken', contentType: "application/toml" });
    await waitFor(() => p.status().state === "failing", { timeoutMs: 3000, what: "state failing" });
    assert.match(p.status().lastError ?? "", /^http:http:\/\/127\.0\.0\.1:\d+\/routing:\d+:\d+: /);
    s.set({ body: "\u00ff\u00fe not utf-8", contentType: "application/json" });
    await waitFor(() => /not valid utf-8|:\d+:\d+/.test(p.status().lastError ?? ""), {
      timeoutMs: 3000,
      what: "error",
    });
    assert.equal(c.snaps.length, 1);
    assert.deepEqual(c.names(), ["fine"]);
    await stop(p);
  });

  it("logs errors once per change of state, not per retry", { timeout: 15_000 }, async (t) => {
    const logs = captureLogs();
    whenDone(t, logs.restore);
    const s = await server({ status: 500, body: "No cluster leader\n" });
    const { p, c } = start(config(s.url()));
    await waitFor(() => s.requests.length >= 4, { timeoutMs: 5000, what: "four failing requests" });
    assert.match(p.status().lastError ?? "", /HTTP 500.*: No cluster leader$/);
    assert.equal(p.status().state, "failing", "never delivered, now failing");
    s.set({ status: 403, body: "Permission denied" });
    let n = s.requests.length;
    await waitFor(() => s.requests.length >= n + 3, {
      timeoutMs: 5000,
      what: "three more requests",
    });
    s.set({ body: TOML("up"), contentType: "application/toml" });
    await c.waitFor(1);
    s.set({ status: 500, body: "No cluster leader" });
    n = s.requests.length;
    await waitFor(() => s.requests.length >= n + 3, {
      timeoutMs: 5000,
      what: "three more requests",
    });
    const events = logs.records
      .filter((r) => r.msg === "provider failing" || r.msg === "provider recovered")
      .map((r) => `${r.msg}${r.kind ? `:${r.kind}` : ""}`);
    assert.deepEqual(events, [
      "provider failing:http_status",
      "provider failing:forbidden",
      "provider recovered",
      "provider failing:http_status",
    ]);
    assert.equal(c.snaps.length, 1);
    await stop(p);
  });

  it(
    "backs off while failing instead of polling at the poll interval",
    async () => {
      const s = await server({ status: 503, body: "busy" });
      // An injected clock: each wait is recorded and returns at once, the eighth never (until
      // stop), so the pacing is read from the waits asked for, not from wall time.
      const waits: number[] = [];
      const clock: PacingClock = {
        now: () => waits.reduce((a, b) => a + b, 0),
        sleep(ms, signal) {
          waits.push(ms);
          if (waits.length < 8) return Promise.resolve();
          return new Promise<void>((r) => signal.addEventListener("abort", () => r()));
        },
      };
      // A 1 ms poll interval: were failures paced by it, every wait would be 1 ms.
      const p = createHttpProvider({
        rt,
        config: config(s.url(), { pollIntervalMs: 1 }),
        log: createLogger("provider.http"),
        backoff: { baseMs: 20, maxMs: 200 },
        random: () => 0.5,
        clock,
      });
      providers.push(p);
      p.start(() => {});
      await waitFor(() => waits.length === 8, { what: "eight waits" });
      await stop(p);
      // Jitter fixed at the middle: 3/4 of 20, 40, 80, 160, then of the 200 ms cap.
      assert.deepEqual(waits, [15, 30, 60, 120, 150, 150, 150, 150]);
      assert.equal(s.requests.length, 8, "one request per wait");
    },
  );

  it("gives up on an answer that never finishes after poll_timeout, keeping the routes", async () => {
    const s = await server({ body: TOML("whole"), contentType: "application/toml" });
    const { p, c } = start(config(s.url(), { pollTimeoutMs: 300 }));
    await c.waitFor(1);
    s.set({ body: TOML("stuck"), contentType: "application/toml", hang: true });
    await waitFor(() => p.status().state === "failing", { timeoutMs: 5000, what: "state failing" });
    assert.match(p.status().lastError ?? "", /no complete answer within 300 ms/);
    assert.deepEqual(c.names(), ["whole"]);
    s.set({ body: TOML("whole"), contentType: "application/toml" });
    await waitFor(() => p.status().state === "ok", { timeoutMs: 5000, what: "state ok again" });
    await stop(p);
  });

  it("stops polling after stop()", async () => {
    const s = await server({ body: TOML("a"), contentType: "application/toml" });
    const { p, c } = start(config(s.url()));
    await c.waitFor(1);
    await p.stop();
    const n = s.requests.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(s.requests.length, n);
    assert.equal(p.status().state, "stopped");
  });

  describe("over TLS", () => {
    let certs: TestCerts;
    before(() => {
      certs = makeTestCerts();
    });

    async function httpsServer(requireClientCert: boolean) {
      const s = await startEmulatorServer({
        tls: { key: certs.serverKey, cert: certs.serverCert, ca: certs.ca, requireClientCert },
        handle({ res }) {
          res.writeHead(200, { "content-type": "application/toml" });
          res.end(TOML(requireClientCert ? "mtls" : "tls"));
        },
      });
      servers.push(s);
      return `${s.url}/routing`;
    }

    it("verifies the server against the configured CA and presents the client certificate", async () => {
      const url = await httpsServer(true);
      const { p, c } = start(config(url, {
        tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey, insecure: false },
      }));
      assert.deepEqual((await c.waitFor(1, 8000)).map((x) => x.name), ["mtls"]);
      await stop(p);
      // Without the client certificate the handshake is refused: a failure, not a snapshot.
      const bad = start(config(url, { tls: { ca: certs.ca, insecure: false } }));
      await waitFor(() => bad.p.status().state === "failing", {
        timeoutMs: 8000,
        what: "handshake refused",
      });
      assert.equal(bad.c.snaps.length, 0);
      await stop(bad.p);
    });

    it("refuses a server its CA does not vouch for, unless insecure is set", async () => {
      const url = await httpsServer(false);
      const strict = start(config(url));
      await waitFor(() => strict.p.status().state === "failing", {
        timeoutMs: 8000,
        what: "verification failure",
      });
      assert.equal(strict.c.snaps.length, 0);
      await stop(strict.p);
      const lax = start(config(url, { tls: { insecure: true } }));
      assert.deepEqual((await lax.c.waitFor(1, 8000)).map((x) => x.name), ["tls"]);
      await stop(lax.p);
    });
  });

  it("refuses unusable TLS material: a CONFIG error naming routing.http.tls, or failing polls", async () => {
    const s = await server({ body: TOML("never"), contentType: "application/toml" });
    const bad = config(s.url().replace("http:", "https:"), {
      tls: { ca: "not a certificate", cert: "nor this", key: "nor this", insecure: false },
    });
    let p: Provider;
    try {
      p = createHttpProvider({ rt, config: bad, log: createLogger("provider.http") });
    } catch (err) {
      // Deno checks the PEM when the client is built.
      assert.ok(err instanceof SluiceError);
      assert.equal(err.code, "CONFIG");
      assert.match(err.message, /^routing\.http\.tls: /);
      return;
    }
    // Bun checks it at the first handshake.
    providers.push(p);
    const c = createCollector();
    p.start(c.push);
    await waitFor(() => p.status().state === "failing", { timeoutMs: 5000, what: "state failing" });
    assert.equal(c.snaps.length, 0);
  });

  it("refuses a header that HTTP cannot carry with a CONFIG error naming routing.http.headers", () => {
    assert.throws(
      () =>
        createHttpProvider({
          rt,
          config: config("http://127.0.0.1:9/r.json", { headers: { "bad header": "x" } }),
          log: createLogger("provider.http"),
        }),
      (e: unknown) =>
        e instanceof SluiceError && e.code === "CONFIG" &&
        /^routing\.http\.headers: /.test(e.message),
    );
  });

  it("a 304 to the first, unconditional poll is a failure, not 'waiting' forever", async () => {
    // Found by the property test (tests/faults/provider_parsers_property_test.ts).
    // An in-memory client: a server answering 304 unasked is what is under test.
    const fake = { httpClient: () => () => Promise.resolve(new Response(null, { status: 304 })) };
    const p = createHttpProvider({
      rt: fake as unknown as Runtime,
      config: config("http://127.0.0.1:9/r.json"),
      log: createLogger("provider.http"),
      backoff: { baseMs: 60_000, maxMs: 60_000 },
    });
    p.start(() => {});
    await waitFor(() => p.status().state === "failing");
    assert.match(p.status().lastError ?? "", /304 to a request without validators/);
    await stop(p);
  });

  it("redacts credentials and query from the endpoint in messages", () => {
    assert.equal(
      redactUrl("https://u:pw@h.example:8443/r.json?token=x"),
      "https://h.example:8443/r.json?…",
    );
    assert.equal(redactUrl("http://h/r"), "http://h/r");
  });
});
