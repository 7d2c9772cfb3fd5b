// The engine over real loopback sockets: reconcile, failover, drain, bind retry, fds.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createEngine, type Engine } from "../../src/proxy/engine.ts";
import { configureLogging, createLogger } from "../../src/log.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import {
  bytes,
  canConnect,
  fetchBanner,
  freePort,
  openFds,
  readAll,
  runtime,
  startEchoServer,
  startNamedServer,
  startServer,
} from "../_support/helpers.ts";
import { backend, listener, table } from "../_support/plans.ts";
import { delay, waitFor, within } from "../_support/wait.ts";

const lines: string[] = [];
let rt: Runtime;

before(async () => {
  rt = await runtime();
  configureLogging({ level: "info", format: "json", write: (l) => lines.push(l) });
});

function engine(o: { drainTimeoutMs?: number; bindRetryMs?: number } = {}): Engine {
  return createEngine({
    rt,
    log: createLogger("test"),
    drainTimeoutMs: o.drainTimeoutMs ?? 1000,
    bindRetryMs: o.bindRetryMs ?? 200,
  });
}

describe("engine", () => {
  it("apply() opens a listener that proxies to the backend and counts bytes", async () => {
    const echo = startEchoServer(rt);
    const e = engine();
    const port = await freePort(rt);
    e.apply(table(listener(port, [backend(echo.port)])));
    try {
      const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
      await c.write(bytes("hello"));
      await c.closeWrite();
      assert.equal(await readAll(c), "hello");
      c.close();
      const view = await waitFor(() => {
        const v = e.listeners()[0];
        return v && v.counters.active === 0 && v.counters.total === 1 ? v : undefined;
      }, { what: "the connection to end" });
      assert.equal(view.state, "listening");
      assert.equal(view.counters.bytesUp, 5);
      assert.equal(view.counters.bytesDown, 5);
      assert.equal(view.backends[0]!.counters.total, 1);
      assert.equal(view.backends[0]!.counters.bytesUp, 5);
    } finally {
      await e.shutdown();
      echo.close();
    }
  });

  it("tries the next backend when the first refuses", async () => {
    const refused = await freePort(rt); // nothing listens there
    const b = startNamedServer(rt, "second");
    const e = engine();
    const port = await freePort(rt);
    e.apply(table(listener(port, [backend(refused), backend(b.port)])));
    try {
      for (let i = 0; i < 4; i++) assert.equal(await fetchBanner(rt, port), "second");
      const v = e.listeners()[0]!;
      assert.ok(v.backends[0]!.counters.connectFailures >= 1);
    } finally {
      await e.shutdown();
      b.close();
    }
  });

  it("round-robins over the pool and skips drained backends", async () => {
    const a = startNamedServer(rt, "a");
    const b = startNamedServer(rt, "b");
    const c = startNamedServer(rt, "c");
    const e = engine();
    const port = await freePort(rt);
    e.apply(
      table(listener(port, [backend(a.port), backend(b.port), backend(c.port, { drain: true })])),
    );
    try {
      const seen: string[] = [];
      for (let i = 0; i < 6; i++) seen.push(await fetchBanner(rt, port));
      assert.deepEqual(seen.filter((s) => s === "a").length, 3);
      assert.deepEqual(seen.filter((s) => s === "b").length, 3);
      assert.ok(e.setDrain(`127.0.0.1:${port}`, `127.0.0.1:${a.port}`, true));
      for (let i = 0; i < 3; i++) assert.equal(await fetchBanner(rt, port), "b");
      assert.equal(e.setDrain(`127.0.0.1:${port}`, "127.0.0.1:1", true), false);
    } finally {
      await e.shutdown();
      for (const s of [a, b, c]) s.close();
    }
  });

  it("a removed listener refuses new connections while an open one flows until the drain timeout", async () => {
    const echo = startEchoServer(rt);
    const e = engine({ drainTimeoutMs: 700 });
    const port = await freePort(rt);
    e.apply(table(listener(port, [backend(echo.port)])));
    const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
    try {
      await c.write(bytes("1"));
      assert.equal(
        new TextDecoder().decode((await c.read({ signal: AbortSignal.timeout(2000) }))!),
        "1",
      );
      e.apply(table());
      assert.equal(await canConnect(rt, port), false, "the port is closed at once");
      assert.equal(e.listeners()[0]?.state, "draining");
      await c.write(bytes("2"));
      assert.equal(
        new TextDecoder().decode((await c.read({ signal: AbortSignal.timeout(2000) }))!),
        "2",
      );
      // After the drain timeout the connection is closed by sluice.
      const end = await within(
        c.read({ signal: AbortSignal.timeout(3000) }).catch(() => null),
        3000,
        "drain close",
      );
      assert.equal(end, null);
      await waitFor(() => e.listeners().length === 0, { what: "the drained listener to go" });
    } finally {
      c.close();
      await e.shutdown();
      echo.close();
    }
  });

  it("a port already taken is reported, retried, and bound once free; other listeners serve throughout", async () => {
    const echo = startEchoServer(rt);
    const squatter = startServer(rt, (c) => c.close());
    const other = await freePort(rt);
    const e = engine({ bindRetryMs: 150 });
    e.apply(
      table(listener(squatter.port, [backend(echo.port)]), listener(other, [backend(echo.port)])),
    );
    try {
      const failed = e.listeners().find((l) => l.port === squatter.port)!;
      assert.equal(failed.state, "bind_failed");
      assert.match(failed.error ?? "", /EADDRINUSE/);
      assert.equal(e.listeners().find((l) => l.port === other)!.state, "listening");
      assert.ok(await canConnect(rt, other));
      squatter.close();
      await waitFor(
        () => e.listeners().find((l) => l.port === squatter.port)?.state === "listening",
        {
          what: "the retry to bind",
        },
      );
      const c = await rt.connect({ host: "127.0.0.1", port: squatter.port, timeoutMs: 2000 });
      await c.write(bytes("x"));
      await c.closeWrite();
      assert.equal(await readAll(c), "x");
      c.close();
      assert.ok(lines.some((l) => l.includes("listener bind failed")));
    } finally {
      await e.shutdown();
      echo.close();
    }
  });

  it("half-close: the client's FIN goes through and the backend's answer 200 ms later arrives", async () => {
    const server = startServer(rt, async (c) => {
      const req = await readAll(c); // ends only when the client's FIN came through sluice
      await delay(200);
      await c.write(bytes(`answer to ${req}`));
      await c.closeWrite();
      c.close();
    });
    const e = engine();
    const port = await freePort(rt);
    e.apply(table(listener(port, [backend(server.port)])));
    try {
      const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
      await c.write(bytes("question"));
      await c.closeWrite();
      assert.equal(await within(readAll(c), 5000, "the answer"), "answer to question");
      c.close();
    } finally {
      await e.shutdown();
      server.close();
    }
  });

  it("half-close: the backend's FIN goes through and the client's later bytes still arrive", async () => {
    let received: Promise<string> | undefined;
    const server = startServer(rt, (c) => {
      received = (async () => {
        await c.write(bytes("banner"));
        await c.closeWrite(); // the backend finishes first
        const all = await readAll(c);
        c.close();
        return all;
      })();
    });
    const e = engine();
    const port = await freePort(rt);
    e.apply(table(listener(port, [backend(server.port)])));
    try {
      const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
      assert.equal(await within(readAll(c), 5000, "the banner and FIN"), "banner");
      await delay(200);
      await c.write(bytes("late data"));
      await c.closeWrite();
      await waitFor(() => received, { what: "the backend to accept" });
      assert.equal(await within(received!, 5000, "the late data"), "late data");
      c.close();
    } finally {
      await e.shutdown();
      server.close();
    }
  });

  it("a table built on the applied one is applied by its changed keys; any other in full", async () => {
    const a = startNamedServer(rt, "a");
    const b = startNamedServer(rt, "b");
    const e = engine();
    const [p1, p2, p3] = [await freePort(rt), await freePort(rt), await freePort(rt)];
    const l1 = listener(p1!, [backend(a.port)]);
    const l2 = listener(p2!, [backend(a.port)]);
    const t1 = table(l1, l2);
    e.apply(t1);
    try {
      // p2 goes, p3 comes, p1 keeps its plan object: only the named keys are touched.
      const l3 = listener(p3!, [backend(b.port)]);
      const t2 = {
        ...table(l1, l3),
        changedSince: { base: new WeakRef(t1), keys: [l2.key, l3.key] },
      };
      e.apply(t2);
      const open = e.listeners().filter((v) => v.state !== "draining").map((v) => v.port);
      assert.deepEqual(new Set(open), new Set([p1, p3]));
      assert.equal(await fetchBanner(rt, p3!), "b");
      await waitFor(async () => !(await canConnect(rt, p2!)), { what: "p2 to close" });
      // A delta on a table this engine never applied is not trusted: the full table applies.
      const stranger = table(l1);
      const t3 = {
        ...table(l1, l2),
        changedSince: { base: new WeakRef(stranger), keys: [l2.key] },
      };
      e.apply(t3);
      await waitFor(() => canConnect(rt, p2!), { what: "p2 back" });
      // p3 is not in the full table.
      await waitFor(async () => !(await canConnect(rt, p3!)), { what: "p3 to close" });
    } finally {
      await e.shutdown();
      a.close();
      b.close();
    }
  });

  it("64 MiB each way arrive with equal sha256", { timeout: 120_000 }, async () => {
    const echo = startEchoServer(rt);
    const e = engine();
    const port = await freePort(rt);
    e.apply(table(listener(port, [backend(echo.port)])));
    try {
      const total = 64 * 1024 * 1024;
      const chunk = new Uint8Array(256 * 1024);
      const sent = createHash("sha256");
      const got = createHash("sha256");
      const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
      const reader = (async () => {
        let n = 0;
        for (;;) {
          const b = await c.read({ signal: AbortSignal.timeout(60_000) });
          if (b === null) break;
          got.update(b);
          n += b.length;
        }
        return n;
      })();
      for (let off = 0, i = 0; off < total; off += chunk.length, i++) {
        for (let j = 0; j < chunk.length; j += 4096) chunk[j] = (i * 31 + j) & 0xff;
        sent.update(chunk);
        await c.write(chunk);
      }
      await c.closeWrite();
      assert.equal(await reader, total);
      assert.equal(got.digest("hex"), sent.digest("hex"));
      c.close();
    } finally {
      await e.shutdown();
      echo.close();
    }
  });

  it("file descriptors return to their starting count after 2,000 proxied connections", {
    timeout: 120_000,
  }, async () => {
    const echo = startEchoServer(rt);
    const e = engine();
    const port = await freePort(rt);
    e.apply(table(listener(port, [backend(echo.port)])));
    try {
      await delay(50);
      const before = openFds();
      for (let i = 0; i < 2000; i += 50) {
        await Promise.all(Array.from({ length: 50 }, async () => {
          const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 5000 });
          await c.write(bytes("ping"));
          await c.closeWrite();
          await readAll(c);
          c.close();
        }));
      }
      await waitFor(() => e.listeners()[0]!.counters.active === 0, { what: "connections to end" });
      await waitFor(() => openFds() <= before + 2, {
        timeoutMs: 5000,
        what: `fds back to ${before} (now ${openFds()})`,
      });
      assert.equal(e.listeners()[0]!.counters.total, 2000);
    } finally {
      await e.shutdown();
      echo.close();
    }
  });

  it("shutdown() stops accepting, lets connections finish, then resolves", async () => {
    const echo = startEchoServer(rt);
    const e = engine({ drainTimeoutMs: 5000 });
    const port = await freePort(rt);
    e.apply(table(listener(port, [backend(echo.port)])));
    const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
    await c.write(bytes("a"));
    await c.read({ signal: AbortSignal.timeout(2000) });
    const stopped = e.shutdown();
    assert.equal(await canConnect(rt, port), false);
    await c.closeWrite();
    assert.equal(await readAll(c), "");
    c.close();
    await within(stopped, 3000, "shutdown after the last connection ended");
    echo.close();
  });
});

after(() => configureLogging({ write: (l) => process.stderr.write(l + "\n") }));
