// DNS rebinding: a tokenless admin API answers only requests whose Host names a loopback name,
// an IP literal or admin.listener's host; with a token, the token protects it.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { hostAllowed } from "../../src/admin/host_check.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import { bytes, readAll, runtime } from "../_support/helpers.ts";
import { startTestAdmin, type TestAdmin } from "./_admin_server.ts";

let rt: Runtime;
let open: TestAdmin;
let guarded: TestAdmin;

before(async () => {
  rt = await runtime();
  open = await startTestAdmin();
  guarded = await startTestAdmin({ token: "s3cret" });
});
after(async () => {
  await open.close();
  await guarded.close();
});

/** A raw HTTP/1.1 request with the Host header given (fetch may not let us set it). */
async function statusWithHost(
  a: TestAdmin,
  path: string,
  host: string,
  extra = "",
): Promise<number> {
  const port = Number(new URL(a.url).port);
  const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 5000 });
  try {
    await c.write(
      bytes(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`),
    );
    const text = await readAll(c, { timeoutMs: 5000 });
    const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
    assert.ok(m, `a status line, got ${JSON.stringify(text.slice(0, 80))}`);
    return Number(m[1]);
  } finally {
    c.close();
  }
}

describe("admin Host check (DNS rebinding)", () => {
  it("hostAllowed() accepts loopback names, IP literals and the listen host only", () => {
    for (
      const h of [
        "127.0.0.1:9090",
        "127.0.0.1",
        "[::1]:9090",
        "localhost:9090",
        "LOCALHOST",
        "app.localhost:1",
        "10.1.2.3:9090",
        "localhost.",
      ]
    ) assert.equal(hostAllowed(h), true, h);
    assert.equal(hostAllowed(undefined), true, "no Host: not a browser");
    for (
      const h of ["evil.example:9090", "evil.example", "127.0.0.1.evil.example", "[evil]:1", "a b"]
    ) assert.equal(hostAllowed(h), false, h);
    assert.equal(hostAllowed("admin.internal:9090", "admin.internal"), true);
    assert.equal(hostAllowed("other.internal:9090", "admin.internal"), false);
  });

  it("without a token a rebound name gets 421 on every endpoint, a loopback one is served", async () => {
    const port = new URL(open.url).port;
    assert.equal(await statusWithHost(open, "/api/v1/routing", `evil.example:${port}`), 421);
    assert.equal(await statusWithHost(open, "/metrics", `evil.example:${port}`), 421);
    assert.equal(await statusWithHost(open, "/", "evil.example"), 421);
    assert.equal(await statusWithHost(open, "/api/v1/routing", `127.0.0.1:${port}`), 200);
    assert.equal(await statusWithHost(open, "/api/v1/routing", `localhost:${port}`), 200);
    const r = await open.get("/api/v1/routing");
    assert.equal(r.status, 200);
    await r.body?.cancel();
  });

  it("with a token any Host is accepted and the token decides", async () => {
    assert.equal(await statusWithHost(guarded, "/api/v1/routing", "evil.example"), 401);
    assert.equal(
      await statusWithHost(
        guarded,
        "/api/v1/routing",
        "sluice.example.com",
        "Authorization: Bearer s3cret\r\n",
      ),
      200,
    );
  });
});
