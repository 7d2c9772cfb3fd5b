// listen() and connect(): listener lifecycle, bind and dial errors, timeouts that free their
// sockets, and fd hygiene across many spliced connections.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SluiceError } from "../../src/errors.ts";
import type { Conn } from "../../src/runtime/types.ts";
import { startBlackhole } from "./_blackhole.ts";
import { dec, enc, fdCount, readAll, rt, startProxy } from "./_helpers.ts";
import { delay, waitFor, within } from "../_support/wait.ts";

function echoServer() {
  return rt.listen({ host: "127.0.0.1", port: 0 }, async (c) => {
    try {
      for (;;) {
        const d = await c.read();
        if (d === null) break;
        await c.write(d);
      }
      await c.closeWrite();
    } catch { /* peer reset */ }
    c.close();
  });
}

async function expectCode(p: Promise<unknown>, code: string): Promise<SluiceError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SluiceError, `a SluiceError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

describe("listen()", () => {
  it("reports the bound port and normalised addresses", async () => {
    const l = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => c.close());
    try {
      assert.ok(l.addr.port > 0);
      assert.deepEqual([l.addr.host, l.addr.family], ["127.0.0.1", 4]);
      const c = await rt.connect({ host: "127.0.0.1", port: l.addr.port, timeoutMs: 2000 });
      assert.deepEqual([c.remote.host, c.remote.port, c.remote.family], [
        "127.0.0.1",
        l.addr.port,
        4,
      ]);
      assert.equal(c.local.host, "127.0.0.1");
      c.close();
    } finally {
      l.close();
    }
  });

  it("accepts IPv6 hosts with or without brackets and shows IPv4 peers of :: as plain IPv4", async () => {
    let seen: Conn | undefined;
    const l = rt.listen({ host: "[::]", port: 0 }, (c) => (seen = c));
    try {
      const c = await rt.connect({ host: "127.0.0.1", port: l.addr.port, timeoutMs: 2000 });
      assert.ok(await waitFor(() => seen !== undefined, { timeoutMs: 2000 }));
      assert.equal(seen!.remote.host, "127.0.0.1");
      assert.equal(seen!.remote.family, 4);
      c.close();
      const c6 = await rt.connect({ host: "::1", port: l.addr.port, timeoutMs: 2000 });
      assert.deepEqual([c6.remote.host, c6.remote.family], ["::1", 6]);
      c6.close();
    } finally {
      seen?.close();
      l.close();
    }
  });

  it("keeps accepted connections working after close() and frees the port at once", {
    timeout: 10000,
  }, async () => {
    let accepted: Conn | undefined;
    const l = rt.listen({ host: "127.0.0.1", port: 0 }, async (c) => {
      accepted = c;
      for (;;) {
        const d = await c.read().catch(() => null);
        if (d === null) break;
        await c.write(d).catch(() => {});
      }
      await c.closeWrite().catch(() => {});
      c.close();
    });
    const port = l.addr.port;
    const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
    await waitFor(() => accepted !== undefined, { timeoutMs: 2000 });
    l.close();
    l.close(); // idempotent
    // A new listener on the same port right away.
    const again = rt.listen(
      { host: "127.0.0.1", port },
      (x) => void x.write(enc.encode("new")).finally(() => x.close()),
    );
    assert.equal(again.addr.port, port);
    await delay(10);
    const n = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
    assert.equal(dec.decode(await within(readAll(n), 2000, "the new listener's greeting")), "new");
    n.close();
    again.close();
    // Deno releases a closed socket one event-loop turn later; new dials may meet it till then.
    await delay(10);
    await expectCode(rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 }), "ECONNREFUSED");
    // The old connection still echoes.
    await c.write(enc.encode("still here"));
    assert.equal(dec.decode((await within(c.read(), 2000, "the echo"))!), "still here");
    await c.closeWrite();
    assert.equal((await within(readAll(c), 2000, "FIN")).byteLength, 0);
    c.close();
  });

  it("throws EADDRINUSE for a taken port", () => {
    const l = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => c.close());
    try {
      assert.throws(
        () => rt.listen({ host: "127.0.0.1", port: l.addr.port }, (c) => c.close()),
        (e: unknown) =>
          e instanceof SluiceError && e.code === "EADDRINUSE" &&
          e.message.includes(String(l.addr.port)),
      );
    } finally {
      l.close();
    }
  });

  it("throws EADDRNOTAVAIL for an address this host does not have", () => {
    // 192.0.2.1 is TEST-NET-1: never local, and binding sends no packet.
    assert.throws(
      () => rt.listen({ host: "192.0.2.1", port: 0 }, (c) => c.close()),
      (e: unknown) => e instanceof SluiceError && e.code === "EADDRNOTAVAIL",
    );
  });

  it("lets two listeners share a port with reusePort", () => {
    const a = rt.listen({ host: "127.0.0.1", port: 0, reusePort: true }, (c) => c.close());
    try {
      const b = rt.listen(
        { host: "127.0.0.1", port: a.addr.port, reusePort: true },
        (c) => c.close(),
      );
      assert.equal(b.addr.port, a.addr.port);
      b.close();
    } finally {
      a.close();
    }
  });
});

describe("connect()", () => {
  it("rejects with ECONNREFUSED when nothing listens", async () => {
    const l = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => c.close());
    const port = l.addr.port;
    l.close();
    await delay(10);
    const e = await expectCode(
      rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 }),
      "ECONNREFUSED",
    );
    assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  });

  it("times out with ETIMEDOUT and frees every socket it opened", { timeout: 30000 }, async () => {
    const hole = await startBlackhole();
    try {
      const before = fdCount();
      const started = Date.now();
      const attempts = [];
      for (let i = 0; i < 20; i++) {
        attempts.push(
          expectCode(
            rt.connect({ host: "127.0.0.1", port: hole.port, timeoutMs: 200 }),
            "ETIMEDOUT",
          ),
        );
      }
      await within(Promise.all(attempts), 5000, "20 connect timeouts");
      assert.ok(Date.now() - started >= 180, "not before the timeout");
      assert.ok(
        await waitFor(() => fdCount() <= before, { timeoutMs: 2000 }),
        `fds back to ${before}, now ${fdCount()}`,
      );
    } finally {
      hole.close();
    }
  });

  it(
    "rejects with ABORTED when the signal fires, and frees the socket",
    { timeout: 30000 },
    async () => {
      const hole = await startBlackhole();
      try {
        const before = fdCount();
        const ac = new AbortController();
        const p = rt.connect({
          host: "127.0.0.1",
          port: hole.port,
          timeoutMs: 10000,
          signal: ac.signal,
        });
        await delay(50);
        ac.abort();
        await within(expectCode(p, "ABORTED"), 2000, "the aborted connect");
        await expectCode(
          rt.connect({ host: "127.0.0.1", port: hole.port, timeoutMs: 10000, signal: ac.signal }),
          "ABORTED",
        );
        assert.ok(
          await waitFor(() => fdCount() <= before, { timeoutMs: 2000 }),
          `fds back to ${before}, now ${fdCount()}`,
        );
      } finally {
        hole.close();
      }
    },
  );
});

describe("connect() to a destination that answered before", () => {
  // Bun dials such a destination natively (a dial that cannot be cancelled); these pin down
  // that it behaves as the first dial did, on both runtimes.
  it("carries bytes and half-close like the first dial", { timeout: 30000 }, async () => {
    const backend = echoServer();
    try {
      for (let i = 0; i < 3; i++) {
        const c = await rt.connect({ host: "127.0.0.1", port: backend.addr.port, timeoutMs: 2000 });
        await c.write(enc.encode(`dial ${i}`));
        await c.closeWrite();
        assert.equal(dec.decode(await within(readAll(c), 5000, "the echo")), `dial ${i}`);
        c.close();
        // Read only now: the addresses outlive the socket (logs name closed conns).
        assert.equal(c.remote.port, backend.addr.port);
        assert.equal(c.remote.host, "127.0.0.1");
        assert.ok(c.local.port > 0, `local port ${c.local.port}`);
      }
    } finally {
      backend.close();
    }
  });

  it("rejects with ABORTED when aborted at once, and closes the late socket", {
    timeout: 30000,
  }, async () => {
    let accepted = 0;
    let ended = 0;
    const backend = rt.listen({ host: "127.0.0.1", port: 0 }, async (c) => {
      accepted++;
      try {
        while ((await c.read()) !== null) { /* until the dialer's close */ }
      } catch { /* reset */ }
      ended++;
      c.close();
    });
    try {
      const first = await rt.connect({
        host: "127.0.0.1",
        port: backend.addr.port,
        timeoutMs: 2000,
      });
      first.close();
      assert.ok(
        await waitFor(() => ended === 1, { timeoutMs: 5000 }),
        "the first connection ended",
      );
      const before = fdCount();
      for (let i = 0; i < 10; i++) {
        const ac = new AbortController();
        const p = rt.connect({
          host: "127.0.0.1",
          port: backend.addr.port,
          timeoutMs: 2000,
          signal: ac.signal,
        });
        ac.abort();
        await within(expectCode(p, "ABORTED"), 2000, "the aborted connect");
      }
      // Whatever reached the backend is closed again, and no fd is left behind.
      assert.ok(
        await waitFor(() => ended === accepted, { timeoutMs: 5000 }),
        `${ended} of ${accepted} ended`,
      );
      assert.ok(
        await waitFor(() => fdCount() <= before, { timeoutMs: 5000 }),
        `fds back to ${before}, now ${fdCount()}`,
      );
    } finally {
      backend.close();
    }
  });
});

describe("fd hygiene", () => {
  it(
    "returns to the starting fd count after 2,000 spliced connections",
    { timeout: 120000 },
    async () => {
      const backend = echoServer();
      const proxy = startProxy(backend.addr.port, { splice: () => ({ idleTimeoutMs: 10000 }) });
      try {
        // One warm-up connection so lazily opened runtime fds are in the baseline.
        const w = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 2000 });
        await w.write(enc.encode("w"));
        await w.closeWrite();
        await readAll(w);
        w.close();
        await within(proxy.results[0]!, 5000, "the warm-up splice");
        await delay(100);
        const before = fdCount();
        const one = async (i: number) => {
          const c = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 5000 });
          const msg = enc.encode(`message ${i}`);
          await c.write(msg);
          await c.closeWrite();
          const got = await readAll(c);
          c.close();
          assert.equal(dec.decode(got), `message ${i}`);
        };
        let next = 0;
        const worker = async () => {
          while (next < 2000) await one(next++);
        };
        await within(Promise.all(Array.from({ length: 50 }, worker)), 100000, "2,000 connections");
        const results = await within(Promise.all(proxy.results), 10000, "every splice result");
        assert.equal(results.length, 2001);
        assert.ok(results.every((r) => r.reason === "eof"), "every splice ended with eof");
        assert.ok(
          await waitFor(() => fdCount() <= before, { timeoutMs: 5000 }),
          `fds back to ${before}, now ${fdCount()}`,
        );
      } finally {
        proxy.close();
        backend.close();
      }
    },
  );
});
