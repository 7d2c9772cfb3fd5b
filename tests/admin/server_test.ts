// startAdmin and the exposure rule: a non-loopback admin.listener without admin.token is
// refused before anything binds, with an error that says why.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { startAdmin } from "../../src/admin/server.ts";
import { checkAdminExposure } from "../../src/config/exposure.ts";
import { isLoopbackHost } from "../../src/net/host_port.ts";
import { createMetrics } from "../../src/admin/metrics.ts";
import { SluiceError } from "../../src/errors.ts";
import { getRuntime } from "../../src/runtime/detect.ts";
import { createFakeEngine } from "./_fake_engine.ts";

function deps(token: string) {
  return {
    engine: createFakeEngine([]),
    providers: () => [],
    metrics: createMetrics(),
    token,
    version: "0.0.0-test",
    runtime: "test",
  };
}

function isConfigError(re: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof SluiceError, `expected a SluiceError, got ${err}`);
    assert.equal(err.code, "CONFIG");
    assert.match(err.message, re);
    return true;
  };
}

describe("checkAdminExposure", () => {
  it("accepts loopback listeners without a token", () => {
    for (
      const l of [
        "127.0.0.1:9090",
        "127.9.8.7:1",
        "[::1]:9090",
        "localhost:9090",
        "[::ffff:127.0.0.1]:80",
      ]
    ) {
      assert.doesNotThrow(() => checkAdminExposure(l, ""), l);
    }
  });

  it("accepts an empty listener (admin off)", () => {
    assert.doesNotThrow(() => checkAdminExposure("", ""));
  });

  it("refuses a non-loopback listener without a token, saying why", () => {
    for (
      const l of [
        "0.0.0.0:9090",
        "[::]:9090",
        "10.1.2.3:9090",
        "admin.example:9090",
        "128.0.0.1:9090",
      ]
    ) {
      assert.throws(
        () => checkAdminExposure(l, ""),
        isConfigError(/admin\.listener: .* is not a loopback address, so admin\.token must be set/),
        l,
      );
    }
  });

  it("accepts a non-loopback listener with a token", () => {
    assert.doesNotThrow(() => checkAdminExposure("0.0.0.0:9090", "t0ken"));
  });

  it("refuses a malformed listener naming what was expected", () => {
    for (const l of ["9090", "host", "[::1]9090", "1.2.3.4:99999", "[nothost]:80"]) {
      assert.throws(
        () => checkAdminExposure(l, "x"),
        isConfigError(/expected "" \(off\) or HOST:PORT/),
        l,
      );
    }
  });

  it("isLoopbackHost knows 127.0.0.0/8, ::1 and localhost only", () => {
    assert.equal(isLoopbackHost("127.0.0.1"), true);
    assert.equal(isLoopbackHost("127.255.255.254"), true);
    assert.equal(isLoopbackHost("LOCALHOST"), true);
    assert.equal(isLoopbackHost("::1"), true);
    assert.equal(isLoopbackHost("0.0.0.0"), false);
    assert.equal(isLoopbackHost("::"), false);
    assert.equal(isLoopbackHost("127.example.com"), false);
  });
});

describe("startAdmin", () => {
  it("refuses to start on a non-loopback address without a token, before binding", async () => {
    const d = deps("");
    await assert.rejects(
      startAdmin({ rt: getRuntime(), listener: "0.0.0.0:0", deps: d }),
      isConfigError(/not a loopback address, so admin\.token must be set/),
    );
    d.metrics.close();
  });

  it("applies the exposure rule to an address parsed at load, too", async () => {
    const d = deps("");
    await assert.rejects(
      startAdmin({
        rt: getRuntime(),
        listener: "0.0.0.0:0",
        address: { host: "0.0.0.0", port: 0 },
        deps: d,
      }),
      isConfigError(/not a loopback address, so admin\.token must be set/),
    );
    d.metrics.close();
  });

  it("serves on an ephemeral loopback port and frees it on close", async () => {
    const d = deps("");
    const h = await startAdmin({ rt: getRuntime(), listener: "127.0.0.1:0", deps: d });
    assert.ok(h.port > 0);
    assert.equal(h.host, "127.0.0.1");
    const r = await fetch(`http://127.0.0.1:${h.port}/healthz`, {
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(r.status, 200);
    await r.body?.cancel();
    await h.close();
    await assert.rejects(
      fetch(`http://127.0.0.1:${h.port}/healthz`, { signal: AbortSignal.timeout(5000) }),
    );
  });

  it("rejects with the runtime's error when the port is taken", async () => {
    const a = deps("");
    const first = await startAdmin({ rt: getRuntime(), listener: "127.0.0.1:0", deps: a });
    const b = deps("");
    try {
      await assert.rejects(
        startAdmin({ rt: getRuntime(), listener: `127.0.0.1:${first.port}`, deps: b }),
        (err: unknown) => err instanceof SluiceError && err.code === "EADDRINUSE",
      );
    } finally {
      b.metrics.close();
      await first.close();
    }
  });
});
