// The admin API over real HTTP (startAdmin on port 0) with a fake engine: every endpoint,
// bearer-token auth, runtime drain with good and bad bodies, readiness transitions.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestAdmin, type TestAdmin } from "./_admin_server.ts";
import { fakeBackend, fakeListener, fakeProvider } from "./_fake_engine.ts";
import { ErrorBody, Providers, Readiness, Routing } from "../../src/admin/schemas.ts";

function sampleListeners() {
  return [
    fakeListener("127.0.0.1:15432", [
      fakeBackend("10.0.0.7:5432", {
        health: "up",
        weight: 3,
        tier: 0,
        counters: { active: 2, total: 40, connectFailures: 1, bytesDown: 5000, bytesUp: 700 },
      }),
      fakeBackend("10.0.0.8:5432", {
        via: "socks5://ops:***@10.0.0.5:1080",
        health: "down",
        tier: 1,
        drain: true,
      }),
    ], {
      services: ["db", "db-replica"],
      balance: "least_conn",
      counters: { active: 2, total: 41, refused: 3, bytesUp: 700, bytesDown: 5000 },
    }),
    fakeListener("0.0.0.0:8080", [fakeBackend("127.0.0.1:9000", { service: "web" })], {
      label: "any",
      state: "bind_failed",
      error: "EADDRINUSE: address 0.0.0.0:8080 is in use",
      services: ["web"],
    }),
  ];
}

async function errorOf(r: Response, status: number): Promise<ErrorBody["error"]> {
  assert.equal(r.status, status, `expected HTTP ${status}`);
  assert.match(r.headers.get("content-type") ?? "", /application\/json/);
  return ErrorBody.parse(await r.json()).error;
}

describe("admin API without a token", () => {
  let admin: TestAdmin;
  before(async () => {
    admin = await startTestAdmin({
      listeners: sampleListeners(),
      providers: [
        fakeProvider({ name: "file", index: "1700000000", lastUpdate: "2024-05-01T10:00:00.000Z" }),
      ],
    });
  });
  after(async () => await admin.close());

  it("GET /healthz answers 200 ok", async () => {
    const r = await admin.get("/healthz");
    assert.equal(r.status, 200);
    assert.equal((await r.text()).trim(), "ok");
  });

  it("GET /api/v1/routing shows listeners with state, error, services, balance and backend counters", async () => {
    const r = await admin.get("/api/v1/routing");
    assert.equal(r.status, 200);
    const body = Routing.parse(await r.json());
    assert.equal(body.version, "0.0.0-test");
    assert.deepEqual(body.listeners.map((l) => l.address), ["0.0.0.0:8080", "127.0.0.1:15432"]);
    const [failed, db] = body.listeners;
    assert.equal(failed?.state, "bind_failed");
    assert.equal(failed?.error, "EADDRINUSE: address 0.0.0.0:8080 is in use");
    assert.equal(failed?.label, "any");
    assert.ok(db);
    assert.equal(db.state, "listening");
    assert.equal(db.error, null);
    assert.deepEqual(db.services, ["db", "db-replica"]);
    assert.equal(db.balance, "least_conn");
    assert.deepEqual(
      [
        db.active_connections,
        db.total_connections,
        db.refused_connections,
        db.bytes_up,
        db.bytes_down,
      ],
      [2, 41, 3, 700, 5000],
    );
    const [b1, b2] = db.backends;
    assert.deepEqual(b1, {
      key: "10.0.0.7:5432",
      address: "10.0.0.7:5432",
      via: null,
      service: "db",
      weight: 3,
      tier: 0,
      health: "up",
      drain: false,
      drain_override: false,
      ejected: false,
      active_connections: 2,
      total_connections: 40,
      connect_failures: 1,
      bytes_up: 700,
      bytes_down: 5000,
    });
    assert.equal(b2?.via, "socks5://ops:***@10.0.0.5:1080");
    assert.equal(b2?.health, "down");
    assert.equal(b2?.tier, 1);
    assert.equal(b2?.drain, true);
  });

  it("GET /api/v1/routing follows the engine's counters as they change", async () => {
    const l = admin.engine.state.find((x) => x.key === "127.0.0.1:15432");
    assert.ok(l);
    l.counters.active = 9;
    l.counters.total = 100;
    const body = Routing.parse(await (await admin.get("/api/v1/routing")).json());
    const db = body.listeners.find((x) => x.address === "127.0.0.1:15432");
    assert.equal(db?.active_connections, 9);
    assert.equal(db?.total_connections, 100);
  });

  it("GET /api/v1/providers shows kind, state, last update, last error and index", async () => {
    admin.providers.push(
      fakeProvider({
        name: "consul",
        kind: "consul",
        state: "failing",
        lastError: "HTTP 403 from consul",
        services: 4,
        updates: 7,
        errors: 2,
      }),
    );
    const body = Providers.parse(await (await admin.get("/api/v1/providers")).json());
    assert.deepEqual(body.providers, [
      {
        name: "file",
        kind: "file",
        state: "ok",
        last_update: "2024-05-01T10:00:00.000Z",
        last_error: null,
        index: "1700000000",
        services: 1,
        updates: null,
        errors: null,
      },
      {
        name: "consul",
        kind: "consul",
        state: "failing",
        last_update: null,
        last_error: "HTTP 403 from consul",
        index: null,
        services: 4,
        updates: 7,
        errors: 2,
      },
    ]);
    admin.providers.pop();
  });

  it("GET /metrics answers the Prometheus text format", async () => {
    const r = await admin.get("/metrics");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    assert.match(await r.text(), /^sluice_listener_up\{listener="127\.0\.0\.1:15432"\} 1$/m);
  });

  it("GET / and /docs serve self-contained HTML pages", async () => {
    for (const path of ["/", "/docs"]) {
      const r = await admin.get(path);
      assert.equal(r.status, 200, path);
      assert.match(r.headers.get("content-type") ?? "", /text\/html/);
      const html = await r.text();
      assert.match(html, /^<!doctype html>/i);
      // Nothing is loaded from elsewhere: sluice runs where there is no internet.
      assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//i, path);
      assert.match(r.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    }
  });

  it("POST /api/v1/backends/drain drains a backend and DELETE removes the override", async () => {
    const body = { listener: "127.0.0.1:15432", backend: "10.0.0.7:5432" };
    const init = (method: string): RequestInit => ({
      method,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    let r = await admin.get("/api/v1/backends/drain", { init: init("POST") });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { ...body, drain: true });
    let routing = Routing.parse(await (await admin.get("/api/v1/routing")).json());
    let b = routing.listeners.find((l) => l.address === body.listener)?.backends[0];
    assert.equal(b?.drain, true);
    assert.equal(b?.drain_override, true);

    r = await admin.get("/api/v1/backends/drain", { init: init("DELETE") });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { ...body, drain: false });
    routing = Routing.parse(await (await admin.get("/api/v1/routing")).json());
    b = routing.listeners.find((l) => l.address === body.listener)?.backends[0];
    assert.equal(b?.drain, false);
    assert.equal(b?.drain_override, false);
    assert.deepEqual(admin.engine.drainCalls.slice(-2), [
      { ...body, drain: true },
      { ...body, drain: false },
    ]);
  });

  it("drain accepts a backend's key for a backend behind a proxy", async () => {
    const key = "socks5://ops:***@10.0.0.5:1080 ➤ 10.0.0.8:5432";
    const r = await admin.get("/api/v1/backends/drain", {
      init: {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ listener: "127.0.0.1:15432", backend: key }),
      },
    });
    assert.equal(r.status, 200);
    assert.equal(
      admin.engine.state.find((l) => l.port === 15432)?.backends[1]?.drainOverride,
      true,
    );
  });

  it("drain answers 404 JSON naming the unknown listener or backend", async () => {
    const post = (body: unknown) =>
      admin.get("/api/v1/backends/drain", {
        init: {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        },
      });
    let e = await errorOf(await post({ listener: "127.0.0.1:1", backend: "10.0.0.7:5432" }), 404);
    assert.equal(e.code, "not_found");
    assert.equal(e.field, "listener");
    assert.match(e.message, /127\.0\.0\.1:1/);
    e = await errorOf(await post({ listener: "127.0.0.1:15432", backend: "10.9.9.9:1" }), 404);
    assert.equal(e.field, "backend");
    assert.match(e.message, /10\.9\.9\.9:1/);
  });

  it("drain answers 400 JSON naming the field for a bad body", async () => {
    const send = (body: string, method = "POST") =>
      admin.get("/api/v1/backends/drain", {
        init: { method, headers: { "content-type": "application/json" }, body },
      });
    const cases: [string, string, string][] = [
      ["{not json", "body", "POST"],
      ['{"backend":"10.0.0.7:5432"}', "listener", "POST"],
      ['{"listener":"127.0.0.1:15432"}', "backend", "DELETE"],
      ['{"listener":"","backend":"10.0.0.7:5432"}', "listener", "POST"],
      ['{"listener":5,"backend":"10.0.0.7:5432"}', "listener", "POST"],
      ['{"listener":"127.0.0.1:15432","backend":"10.0.0.7:5432","drian":true}', "drian", "POST"],
      ["[1,2]", "body", "DELETE"],
      ["null", "body", "POST"],
    ];
    for (const [body, field, method] of cases) {
      const e = await errorOf(await send(body, method), 400);
      assert.equal(e.code, "bad_request", body);
      assert.equal(e.field, field, body);
      assert.ok(e.message.startsWith(`${field}:`), `${body}: ${e.message}`);
    }
    assert.equal(admin.engine.state[0]?.backends[0]?.drainOverride, false);
  });

  it("drain refuses a body that is not sent as JSON (no cross-site form posts)", async () => {
    const r = await admin.get("/api/v1/backends/drain", {
      init: {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({ listener: "127.0.0.1:15432", backend: "10.0.0.7:5432" }),
      },
    });
    const e = await errorOf(r, 415);
    assert.equal(e.code, "unsupported_media_type");
    assert.equal(
      admin.engine.state.find((l) => l.port === 15432)?.backends[0]?.drainOverride,
      false,
    );
  });

  it("drain refuses a body over the size limit with 413", async () => {
    const r = await admin.get("/api/v1/backends/drain", {
      init: {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ listener: "x".repeat(20_000), backend: "y" }),
      },
    });
    assert.equal((await errorOf(r, 413)).code, "payload_too_large");
  });

  it("unknown paths answer 404 JSON and wrong methods 405 JSON with Allow", async () => {
    const e = await errorOf(await admin.get("/api/v1/nothing"), 404);
    assert.equal(e.code, "not_found");
    const r = await admin.get("/api/v1/backends/drain");
    assert.equal((await errorOf(r, 405)).code, "method_not_allowed");
    assert.equal(r.headers.get("allow"), "POST, DELETE");
    assert.equal(
      (await errorOf(await admin.get("/metrics", { init: { method: "POST" } }), 405)).code,
      "method_not_allowed",
    );
  });
});

describe("admin API readiness", () => {
  let admin: TestAdmin;
  before(async () => {
    admin = await startTestAdmin();
  });
  after(async () => await admin.close());

  it("GET /readyz is 200 with no providers, 503 naming the waiting ones, 200 once all delivered", async () => {
    let r = await admin.get("/readyz");
    assert.equal(r.status, 200);
    assert.deepEqual(Readiness.parse(await r.json()), { ready: true, waiting: [] });

    admin.providers.push(
      fakeProvider({ name: "file", state: "ok" }),
      fakeProvider({ name: "consul", kind: "consul", state: "waiting", services: 0 }),
      fakeProvider({ name: "nomad", kind: "nomad", state: "waiting", services: 0 }),
    );
    r = await admin.get("/readyz");
    assert.equal(r.status, 503);
    assert.deepEqual(Readiness.parse(await r.json()), {
      ready: false,
      waiting: ["consul", "nomad"],
    });

    admin.providers[1] = fakeProvider({ name: "consul", kind: "consul", state: "ok" });
    // A provider that delivered once and then fails is still "delivered": readiness holds.
    admin.providers[2] = fakeProvider({
      name: "nomad",
      kind: "nomad",
      state: "failing",
      lastError: "down",
    });
    r = await admin.get("/readyz");
    assert.equal(r.status, 200);
    assert.deepEqual(Readiness.parse(await r.json()), { ready: true, waiting: [] });
  });
});

describe("admin API with a token", () => {
  const token = "s3cret token/with:odd chars!";
  let admin: TestAdmin;
  before(async () => {
    admin = await startTestAdmin({
      token,
      listeners: [fakeListener("127.0.0.1:15433", [fakeBackend("10.0.0.7:5432")])],
    });
  });
  after(async () => await admin.close());

  const protectedJson = [
    "/readyz",
    "/api/v1/routing",
    "/api/v1/providers",
    "/metrics",
    "/openapi.json",
  ];

  it("GET /healthz needs no token", async () => {
    const r = await admin.get("/healthz");
    assert.equal(r.status, 200);
    await r.body?.cancel();
  });

  it("every other endpoint answers 401 JSON with WWW-Authenticate when the token is missing", async () => {
    for (const path of protectedJson) {
      const r = await admin.get(path);
      const e = await errorOf(r, 401);
      assert.equal(e.code, "unauthorized", path);
      assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer realm="sluice"/, path);
      assert.ok(!e.message.includes(token), "the token never appears in errors");
    }
    const r = await admin.get("/api/v1/backends/drain", {
      init: {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ listener: "127.0.0.1:15433", backend: "10.0.0.7:5432" }),
      },
    });
    await errorOf(r, 401);
    assert.equal(
      admin.engine.drainCalls.length,
      0,
      "an unauthenticated drain never reaches the engine",
    );
  });

  it("a wrong token is refused with 401 and error=invalid_token", async () => {
    for (const wrong of ["nope", token.slice(0, -1), token + "x", ""]) {
      const r = await admin.get("/api/v1/routing", { token: wrong });
      await errorOf(r, 401);
      assert.match(r.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
    }
    const basic = await admin.get("/api/v1/routing", {
      init: { headers: { authorization: `Basic ${btoa("a:" + token)}` } },
    });
    await errorOf(basic, 401);
  });

  it("the right token opens every endpoint", async () => {
    for (const path of protectedJson) {
      const r = await admin.get(path, { token });
      assert.equal(r.status, 200, path);
      await r.body?.cancel();
    }
    const r = await admin.get("/api/v1/backends/drain", {
      token,
      init: {
        method: "DELETE",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ listener: "127.0.0.1:15433", backend: "10.0.0.7:5432" }),
      },
    });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), {
      listener: "127.0.0.1:15433",
      backend: "10.0.0.7:5432",
      drain: false,
    });
  });

  it("the pages answer 401 without a token with the page itself, which asks for the token", async () => {
    for (const path of ["/", "/docs"]) {
      const r = await admin.get(path);
      assert.equal(r.status, 401, path);
      assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer/);
      const html = await r.text();
      assert.match(html, /id="login-form"/);
      assert.ok(!html.includes(token));
      // The page is static: no listener from the engine is in it.
      assert.ok(!html.includes("127.0.0.1:15433"));
      const ok = await admin.get(path, { token });
      assert.equal(ok.status, 200);
      await ok.body?.cancel();
    }
  });

  it("the OpenAPI document declares bearer security, and /healthz as open", async () => {
    const doc = await (await admin.get("/openapi.json", { token })).json() as {
      security: unknown;
      components: { securitySchemes: Record<string, unknown> };
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    };
    assert.deepEqual(doc.security, [{ bearer: [] }]);
    assert.deepEqual(doc.components.securitySchemes.bearer, {
      type: "http",
      scheme: "bearer",
      description: "admin.token from sluice's configuration",
    });
    assert.deepEqual(doc.paths["/healthz"]?.get?.security, []);
  });
});
