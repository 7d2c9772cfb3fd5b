// /openapi.json: a valid OpenAPI 3.1 document (checked by @apidevtools/swagger-parser), listing
// exactly the routes the hono app serves, whose schemas describe the real responses (checked
// by ajv, a validator independent of zod).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createAdminRoutes } from "../../src/admin/app.ts";
import { createMetrics } from "../../src/admin/metrics.ts";
import { createFakeEngine, fakeBackend, fakeListener, fakeProvider } from "./_fake_engine.ts";
import { startTestAdmin, type TestAdmin } from "./_admin_server.ts";

type Doc = {
  openapi: string;
  info: Record<string, unknown>;
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: { schemas: Record<string, Record<string, unknown>> };
};

// The validator is a dev dependency; without it these tests say so instead of passing.
let validate: ((doc: unknown) => Promise<unknown>) | undefined;
let Ajv2020:
  | (new (o: Record<string, unknown>) => {
    addSchema(s: unknown, key: string): void;
    validate(ref: string, data: unknown): boolean;
    errorsText(): string;
  })
  | undefined;
try {
  const sp = (await import("@apidevtools/swagger-parser")).default as {
    validate(doc: unknown): Promise<unknown>;
  };
  validate = (doc) => sp.validate(structuredClone(doc));
  Ajv2020 = (await import("ajv/dist/2020.js")).default as unknown as typeof Ajv2020;
} catch {
  validate = undefined;
}
const skip = validate ? false : "@apidevtools/swagger-parser is not installed";

describe("OpenAPI document", () => {
  let admin: TestAdmin;
  let doc: Doc;
  before(async () => {
    admin = await startTestAdmin({
      listeners: [
        fakeListener("127.0.0.1:15432", [
          fakeBackend("10.0.0.7:5432", { health: "up" }),
          fakeBackend("10.0.0.8:5432", { via: "socks5://u:***@10.0.0.5:1080" }),
        ]),
        fakeListener("0.0.0.0:8080", [], { state: "bind_failed", error: "EACCES" }),
      ],
      providers: [
        fakeProvider({ name: "file", lastUpdate: "2024-05-01T10:00:00.000Z", index: "17" }),
        fakeProvider({ name: "consul", kind: "consul", state: "waiting", services: 0 }),
      ],
    });
    doc = await (await admin.get("/openapi.json")).json() as Doc;
  });
  after(async () => await admin.close());

  it("is a valid OpenAPI 3.1 document", { skip }, async () => {
    assert.equal(doc.openapi, "3.1.0");
    await validate?.(doc);
  });

  it("the validator rejects a broken document (the check above can fail)", { skip }, async () => {
    // (OpenAPI 3.1 no longer requires `responses`: break what it still requires.)
    const broken = structuredClone(doc) as Doc & { info: Record<string, unknown> };
    delete broken.info.title;
    await assert.rejects(validate?.(broken) ?? Promise.resolve());
    const badRef = structuredClone(doc) as Doc;
    const op = badRef.paths["/api/v1/routing"]?.get as { responses: Record<string, unknown> };
    op.responses["200"] = {
      description: "x",
      content: { "application/json": { schema: { $ref: "#/components/schemas/Nope" } } },
    };
    await assert.rejects(validate?.(badRef) ?? Promise.resolve());
  });

  it("lists exactly the routes the hono app serves", () => {
    const { app } = createAdminRoutes({
      engine: createFakeEngine([]),
      providers: () => [],
      metrics: createMetrics(),
      token: "",
      version: "x",
      runtime: "x",
    });
    const served = new Set(
      app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path}`),
    );
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, item]) =>
        Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`)
      ),
    );
    assert.deepEqual([...documented].sort(), [...served].sort());
    for (
      const r of [
        "GET /healthz",
        "GET /readyz",
        "GET /api/v1/routing",
        "GET /api/v1/providers",
        "POST /api/v1/backends/drain",
        "DELETE /api/v1/backends/drain",
        "GET /api/v1/stick",
        "DELETE /api/v1/stick",
        "GET /metrics",
        "GET /openapi.json",
        "GET /docs",
        "GET /",
      ]
    ) assert.ok(documented.has(r), r);
  });

  it("describes the drain body from the zod schema the handler validates with", () => {
    const body = doc.paths["/api/v1/backends/drain"]?.post?.requestBody as {
      content: Record<string, { schema: { $ref: string } }>;
    };
    assert.equal(
      body.content["application/json"]?.schema.$ref,
      "#/components/schemas/DrainRequest",
    );
    const s = doc.components.schemas.DrainRequest as {
      required: string[];
      additionalProperties: boolean;
      properties: Record<string, { type: string; minLength: number }>;
    };
    assert.deepEqual(s.required.sort(), ["backend", "listener"]);
    assert.equal(s.additionalProperties, false);
    assert.equal(s.properties.listener?.minLength, 1);
  });

  it("its schemas describe the real JSON answers (checked by ajv)", { skip }, async () => {
    assert.ok(Ajv2020);
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    // Components reference each other as #/components/schemas/X: load the whole document.
    ajv.addSchema({ components: doc.components }, "doc");
    const check = async (path: string, status: string, init?: RequestInit) => {
      const method = (init?.method ?? "get").toLowerCase();
      const r = await admin.get(path, init ? { init } : {});
      assert.equal(String(r.status), status, path);
      const op = doc.paths[path]?.[method] as {
        responses: Record<string, { content: Record<string, { schema: { $ref: string } }> }>;
      };
      const ref = op.responses[status]?.content["application/json"]?.schema.$ref;
      assert.ok(ref, `${method} ${path} ${status} documents a JSON schema`);
      const data = await r.json();
      const ok = ajv.validate(`doc${ref}`, data);
      assert.ok(ok, `${method} ${path} ${status}: ${ajv.errorsText()}`);
    };
    await check("/api/v1/routing", "200");
    await check("/api/v1/providers", "200");
    await check("/readyz", "503");
    await check("/api/v1/stick", "200");
    await check("/api/v1/stick", "200", { method: "DELETE" });
    const json = { "content-type": "application/json" };
    await check("/api/v1/backends/drain", "200", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ listener: "127.0.0.1:15432", backend: "10.0.0.7:5432" }),
    });
    await check("/api/v1/backends/drain", "400", { method: "DELETE", headers: json, body: "{}" });
    await check("/api/v1/backends/drain", "404", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ listener: "1.2.3.4:1", backend: "x:1" }),
    });
    // A wrong answer really fails the check.
    assert.equal(ajv.validate("doc#/components/schemas/Routing", { listeners: [{}] }), false);
  });
});
