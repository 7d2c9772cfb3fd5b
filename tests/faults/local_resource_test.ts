// Issue 12, bug 8: a dial that fails for want of a local resource (EMFILE, ENFILE, ENOBUFS,
// ENOMEM, mapped to ERESOURCE by the runtime adapter) is not the backend's fault: no passive
// ejection, no failure counted, no health penalty; a distinct log line and counter; the client
// connection is closed.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createEngine } from "../../src/proxy/engine.ts";
import { createDirectDialer } from "../../src/proxy/direct_dialer.ts";
import type { Dialer } from "../../src/net/dial.ts";
import { createHealthChecker } from "../../src/health/checker.ts";
import { createMetrics } from "../../src/admin/metrics.ts";
import { resourceErrno, SluiceError } from "../../src/errors.ts";
import { configureLogging, createLogger } from "../../src/log.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import {
  bytes,
  freePort,
  readAll,
  runtime,
  startEchoServer,
  type TestServer,
} from "../_support/helpers.ts";
import { backend, listener, table } from "../_support/plans.ts";
import { TCP } from "../health/_specs.ts";
import { waitFor, within } from "../_support/wait.ts";

const lines: string[] = [];
let rt: Runtime;
let echo: TestServer;

before(async () => {
  rt = await runtime();
  configureLogging({ level: "info", format: "json", write: (l) => lines.push(l) });
  echo = startEchoServer(rt);
});
after(() => echo.close());

/** Dials for real, except while `exhausted` is set: then it fails as EMFILE would. */
function faultyDialer(): Dialer & { exhausted: boolean; dials: number } {
  const real = createDirectDialer(rt);
  const d = {
    exhausted: true,
    dials: 0,
    dial(target: { host: string; port: number }, o: { timeoutMs: number }) {
      d.dials++;
      if (d.exhausted) {
        return Promise.reject(
          new SluiceError("ERESOURCE", "Cannot connect: EMFILE: too many open files", {
            cause: Object.assign(new Error("too many open files"), { code: "EMFILE" }),
          }),
        );
      }
      return real.dial(target, o);
    },
  };
  return d;
}

function logged(msg: string): Record<string, unknown>[] {
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
}

describe("local resource exhaustion on dial", () => {
  it("closes the client, blames no backend, logs and counts it", async () => {
    lines.length = 0;
    const dialer = faultyDialer();
    const metrics = createMetrics();
    const e = createEngine({
      rt,
      log: createLogger("test"),
      directDialer: dialer,
      observer: metrics,
      drainTimeoutMs: 1000,
    });
    const port = await freePort(rt);
    // Two backends: an ERESOURCE must not move on and blame the second one either.
    const other = startEchoServer(rt);
    e.apply(table(listener(port, [backend(echo.port), backend(other.port)])));
    try {
      const attempts = 8; // well over the ejection threshold (3)
      for (let i = 0; i < attempts; i++) {
        const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 5000 });
        await c.write(bytes("x")).catch(() => {});
        // Closed by sluice without an answer.
        assert.equal(await within(readAll(c).catch(() => ""), 5000, "the close"), "");
        c.close();
      }
      await waitFor(() => e.listeners()[0]?.counters.active === 0, { what: "connections end" });
      assert.equal(dialer.dials, attempts, "one dial per connection: no failover on ERESOURCE");
      const v = e.listeners()[0]!;
      for (const b of v.backends) {
        assert.equal(b.ejected, false, `${b.address} not ejected`);
        assert.equal(b.counters.connectFailures, 0, `${b.address} not blamed`);
      }
      const warn = logged("local resource exhausted: connection closed");
      assert.equal(warn.length, attempts);
      assert.equal(warn[0]!.errno, "EMFILE");
      assert.equal(logged("backend connect failed").length, 0);
      assert.equal(logged("backend ejected after consecutive connect failures").length, 0);
      const access = logged("connection");
      assert.ok(access.length >= attempts);
      assert.ok(access.every((a) => a.reason === "local_resource"));
      assert.match(
        metrics.render({ listeners: e.listeners(), providers: [] }),
        new RegExp(`^sluice_local_resource_errors_total\\{errno="EMFILE"\\} ${attempts}$`, "m"),
      );

      // Descriptors are back: the same backends serve at once (nothing was ejected).
      dialer.exhausted = false;
      const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 5000 });
      await c.write(bytes("hello"));
      await c.closeWrite();
      assert.equal(await readAll(c), "hello");
      c.close();
    } finally {
      await e.shutdown();
      metrics.close();
      other.close();
    }
  });

  it("a health check that cannot dial for want of descriptors changes no health state", async () => {
    lines.length = 0;
    const dialer = faultyDialer();
    dialer.exhausted = false;
    const changes: boolean[] = [];
    const c = createHealthChecker({
      rt,
      spec: { ...TCP, intervalMs: 20, timeoutMs: 1000 },
      target: { host: "127.0.0.1", port: echo.port },
      dialer,
      log: createLogger("health"),
      onChange: (h) => changes.push(h),
    });
    try {
      await waitFor(() => c.healthy === true, { what: "the first check" });
      dialer.exhausted = true;
      const from = dialer.dials;
      await waitFor(() => dialer.dials >= from + 6, { what: "six failed checks" });
      assert.equal(c.healthy, true, "fall = 1, yet not marked down");
      assert.deepEqual(changes, [true]);
      assert.ok(logged("local resource exhausted: health check skipped").length >= 1);
    } finally {
      c.stop();
    }
  });

  it("resourceErrno() names the errno from the code, the message or the cause", () => {
    assert.equal(resourceErrno(new SluiceError("ERESOURCE", "connect: ENFILE")), "ENFILE");
    assert.equal(
      resourceErrno(
        new SluiceError("ERESOURCE", "Cannot connect", {
          cause: Object.assign(new Error("x"), { code: "ENOBUFS" }),
        }),
      ),
      "ENOBUFS",
    );
    assert.equal(resourceErrno(new Error("Too many open files (os error 24)")), "EMFILE");
    assert.equal(resourceErrno(new Error("Too many open files in system (os error 23)")), "ENFILE");
    assert.equal(resourceErrno(new Error("No buffer space available (os error 105)")), "ENOBUFS");
    assert.equal(resourceErrno(new Error("Cannot allocate memory (os error 12)")), "ENOMEM");
    assert.equal(resourceErrno(new Error("something else")), "unknown");
  });
});
