// splice() through real loopback sockets: half-close both ways, integrity of large transfers,
// prelude bytes, and the reasons a splice ends.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Socket } from "node:net";
import type { Conn, SpliceResult } from "../../src/runtime/types.ts";
import { concat, dec, enc, readAll, rt, startProxy } from "./_helpers.ts";
import { delay, waitFor, within } from "../_support/wait.ts";

const MiB = 1024 * 1024;

describe("splice() half-close", () => {
  it(
    "passes the client's FIN on and still delivers the backend's late answer",
    { timeout: 15000 },
    async () => {
      const answer = randomBytes(256 * 1024);
      const backend = rt.listen({ host: "127.0.0.1", port: 0 }, async (c) => {
        const req = await readAll(c); // ends only when the client's FIN arrives through the proxy
        await delay(200);
        await c.write(enc.encode(`got ${req.byteLength} bytes;`));
        await c.write(answer);
        await c.closeWrite();
        c.close();
      });
      const proxy = startProxy(backend.addr.port);
      try {
        const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 2000 });
        await client.write(enc.encode("request body"));
        await client.closeWrite();
        const got = await within(readAll(client), 5000, "the backend's answer");
        client.close();
        const head = enc.encode("got 12 bytes;");
        assert.equal(dec.decode(got.subarray(0, head.byteLength)), "got 12 bytes;");
        assert.deepEqual(got.subarray(head.byteLength), new Uint8Array(answer));
        const r = await within(proxy.results[0]!, 5000, "the splice result");
        assert.equal(r.reason, "eof");
        assert.equal(r.up, 12);
        assert.equal(r.down, head.byteLength + answer.byteLength);
      } finally {
        proxy.close();
        backend.close();
      }
    },
  );

  it(
    "passes the backend's FIN on and still delivers the client's late data",
    { timeout: 15000 },
    async () => {
      const upload = randomBytes(256 * 1024);
      let received: Promise<Uint8Array> | undefined;
      const backend = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => {
        received = (async () => {
          await c.write(enc.encode("hello, then FIN"));
          await c.closeWrite(); // the backend finishes first
          const all = await readAll(c);
          c.close();
          return all;
        })();
      });
      const proxy = startProxy(backend.addr.port);
      try {
        const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 2000 });
        const greeting = await within(readAll(client), 5000, "the backend's FIN");
        assert.equal(dec.decode(greeting), "hello, then FIN");
        await delay(200);
        await client.write(upload);
        await client.closeWrite();
        await waitFor(() => received !== undefined, { timeoutMs: 2000 });
        const got = await within(received!, 5000, "the client's data at the backend");
        assert.deepEqual(got, new Uint8Array(upload));
        const r = await within(proxy.results[0]!, 5000, "the splice result");
        client.close();
        assert.equal(r.reason, "eof");
        assert.equal(r.up, upload.byteLength);
        assert.equal(r.down, 15);
      } finally {
        proxy.close();
        backend.close();
      }
    },
  );
});

describe("splice() delivery at the end", () => {
  it(
    "delivers everything still queued for a slow client when both FINs are in",
    { timeout: 20000 },
    async () => {
      const answer = new Uint8Array(randomBytes(4 * MiB));
      const backend = rt.listen({ host: "127.0.0.1", port: 0 }, async (c) => {
        await readAll(c);
        await c.write(answer); // far more than the socket buffers hold
        await c.closeWrite();
        c.close();
      });
      const proxy = startProxy(backend.addr.port);
      try {
        const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 2000 });
        await client.write(enc.encode("GET"));
        await client.closeWrite();
        await delay(300); // both FINs reach the proxy while most of the answer waits for us
        const got = await within(readAll(client), 10000, "the whole answer");
        client.close();
        assert.equal(got.byteLength, answer.byteLength);
        assert.deepEqual(got, answer);
        const r = await within(proxy.results[0]!, 5000, "the splice result");
        assert.deepEqual([r.reason, r.down], ["eof", answer.byteLength]);
      } finally {
        proxy.close();
        backend.close();
      }
    },
  );
});

/** Sends `chunks` random 1 MiB blocks; resolves with their sha256. */
async function sendRandom(c: Conn, mib: number): Promise<string> {
  const h = createHash("sha256");
  for (let i = 0; i < mib; i++) {
    const block = new Uint8Array(randomBytes(MiB));
    h.update(block);
    await c.write(block);
  }
  await c.closeWrite();
  return h.digest("hex");
}

async function hashUntilEof(c: Conn): Promise<{ hash: string; bytes: number }> {
  const h = createHash("sha256");
  let bytes = 0;
  for (;;) {
    const d = await c.read();
    if (d === null) return { hash: h.digest("hex"), bytes };
    h.update(d);
    bytes += d.byteLength;
  }
}

describe("splice() integrity", () => {
  it("moves 64 MiB each way at once with equal sha256", { timeout: 120000 }, async () => {
    let backendSide: Promise<[string, { hash: string; bytes: number }]> | undefined;
    const backend = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => {
      backendSide = Promise.all([sendRandom(c, 64), hashUntilEof(c)]).finally(() => c.close());
    });
    const proxy = startProxy(backend.addr.port);
    try {
      const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 2000 });
      const [sentUp, gotDown] = await within(
        Promise.all([sendRandom(client, 64), hashUntilEof(client)]),
        100000,
        "64 MiB both ways",
      );
      client.close();
      await waitFor(() => backendSide !== undefined, { timeoutMs: 2000 });
      const [sentDown, gotUp] = await within(backendSide!, 10000, "the backend's side");
      assert.equal(gotUp.bytes, 64 * MiB);
      assert.equal(gotDown.bytes, 64 * MiB);
      assert.equal(gotUp.hash, sentUp);
      assert.equal(gotDown.hash, sentDown);
      const r = await within(proxy.results[0]!, 5000, "the splice result");
      assert.deepEqual([r.reason, r.up, r.down], ["eof", 64 * MiB, 64 * MiB]);
    } finally {
      proxy.close();
      backend.close();
    }
  });

  it(
    "delivers bytes read and unshifted during a prelude first, in order",
    { timeout: 15000 },
    async () => {
      let backendGot: Promise<Uint8Array> | undefined;
      const backend = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => {
        backendGot = readAll(c).finally(() => c.close());
      });
      const seen: Uint8Array[] = [];
      const proxy = startProxy(backend.addr.port, {
        async prelude(c) {
          // Read at least 10 bytes, then give back everything after the first 4.
          const parts: Uint8Array[] = [];
          let n = 0;
          while (n < 10) {
            const d = await c.read();
            if (d === null) break;
            parts.push(d.slice());
            n += d.byteLength;
          }
          const all = concat(parts);
          seen.push(all.subarray(0, 4));
          c.unshift(all.subarray(4));
        },
      });
      try {
        const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 2000 });
        const payload = new Uint8Array(randomBytes(300 * 1024));
        await client.write(enc.encode("HEAD"));
        await client.write(enc.encode("abcdefgh"));
        await client.write(payload);
        await client.closeWrite();
        await waitFor(() => backendGot !== undefined, { timeoutMs: 2000 });
        const got = await within(backendGot!, 5000, "the bytes at the backend");
        client.close();
        assert.equal(dec.decode(seen[0]), "HEAD");
        assert.equal(dec.decode(got.subarray(0, 8)), "abcdefgh");
        assert.deepEqual(got.subarray(8), payload);
        const r = await within(proxy.results[0]!, 5000, "the splice result");
        assert.equal(r.up, 8 + payload.byteLength);
      } finally {
        proxy.close();
        backend.close();
      }
    },
  );
});

describe("splice() end reasons", () => {
  it(
    'ends with "idle" after idleTimeoutMs without a byte, closing both sides',
    { timeout: 10000 },
    async () => {
      let backendConn: Conn | undefined;
      const backend = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => (backendConn = c));
      const proxy = startProxy(backend.addr.port, { splice: () => ({ idleTimeoutMs: 300 }) });
      try {
        const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 2000 });
        await client.write(enc.encode("x"));
        await waitFor(() => proxy.results.length === 1, { timeoutMs: 2000 });
        const started = Date.now();
        const r = await within(proxy.results[0]!, 3000, "the idle timeout");
        assert.equal(r.reason, "idle");
        assert.ok(Date.now() - started >= 250, "not before the idle timeout");
        assert.equal(r.up, 1);
        // Both sides see the connection end.
        assert.equal(await within(client.read().catch(() => null), 2000, "client close"), null);
        await waitFor(() => backendConn !== undefined, { timeoutMs: 1000 });
        const b = await within(
          readAll(backendConn!).catch(() => new Uint8Array(1)),
          2000,
          "backend close",
        );
        assert.deepEqual(b, new Uint8Array([120])); // the one byte "x", then the close
        client.close();
        backendConn?.close();
      } finally {
        proxy.close();
        backend.close();
      }
    },
  );

  it("keeps a splice with traffic alive past the idle timeout", { timeout: 10000 }, async () => {
    const backend = rt.listen({ host: "127.0.0.1", port: 0 }, async (c) => {
      for (;;) {
        const d = await c.read().catch(() => null);
        if (d === null) break;
        await c.write(d).catch(() => {});
      }
      c.close();
    });
    const proxy = startProxy(backend.addr.port, { splice: () => ({ idleTimeoutMs: 300 }) });
    try {
      const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 2000 });
      for (let i = 0; i < 8; i++) {
        await client.write(enc.encode("ping"));
        const d = await within(client.read(), 2000, "an echo");
        assert.equal(dec.decode(d!), "ping");
        await delay(100);
      }
      await client.closeWrite();
      await within(readAll(client), 2000, "the echo server's FIN");
      const r = await within(proxy.results[0]!, 3000, "the splice result");
      assert.equal(r.reason, "eof");
      assert.equal(r.up, 32);
      assert.equal(r.down, 32);
      client.close();
    } finally {
      proxy.close();
      backend.close();
    }
  });

  it(
    'ends with "aborted" when the signal fires, and updates counters live',
    { timeout: 10000 },
    async () => {
      const backend = rt.listen({ host: "127.0.0.1", port: 0 }, async (c) => {
        await c.write(enc.encode("welcome")).catch(() => {});
      });
      const ac = new AbortController();
      const counters = { up: 0, down: 0 };
      const proxy = startProxy(backend.addr.port, {
        splice: () => ({ signal: ac.signal, counters }),
      });
      try {
        const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 2000 });
        await client.write(enc.encode("abc"));
        assert.equal(dec.decode((await within(client.read(), 2000, "the welcome"))!), "welcome");
        assert.ok(
          await waitFor(() => counters.up === 3 && counters.down === 7, { timeoutMs: 2000 }),
          "live counters",
        );
        ac.abort();
        const r = await within(proxy.results[0]!, 2000, "the aborted splice");
        assert.deepEqual([r.reason, r.up, r.down], ["aborted", 3, 7]);
        assert.equal(await within(client.read().catch(() => null), 2000, "client close"), null);
        client.close();
      } finally {
        proxy.close();
        backend.close();
      }
    },
  );

  it('ends with "error" naming side b when the backend resets', { timeout: 10000 }, async () => {
    // node:net can send a real RST (resetAndDestroy) on both runtimes.
    const sockets: Socket[] = [];
    const server = createServer((s) => {
      sockets.push(s);
      s.on("error", () => {});
      s.once("data", () => s.resetAndDestroy());
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    const proxy = startProxy(port);
    try {
      const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 2000 });
      await client.write(enc.encode("trigger"));
      const r: SpliceResult = await within(proxy.results[0]!, 3000, "the reset splice");
      assert.equal(r.reason, "error");
      assert.equal(r.errorSide, "b");
      assert.ok(r.error instanceof Error);
      client.close();
    } finally {
      proxy.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

/** A Conn the adapter did not make: forwards to a real one, like a wrapper would. */
function wrap(c: Conn): Conn {
  return {
    remote: c.remote,
    local: c.local,
    setNoDelay: (on) => c.setNoDelay(on),
    setKeepAlive: (on) => c.setKeepAlive(on),
    read: (o) => c.read(o),
    unshift: (b) => c.unshift(b),
    write: (b) => c.write(b),
    closeWrite: () => c.closeWrite(),
    close: () => c.close(),
  };
}

describe("splice() with foreign conns", () => {
  it(
    "copies both ways with half-close through conns it did not create",
    { timeout: 15000 },
    async () => {
      const backend = rt.listen({ host: "127.0.0.1", port: 0 }, async (c) => {
        const req = await readAll(c);
        await delay(100);
        await c.write(enc.encode(`echo:${dec.decode(req)}`));
        await c.closeWrite();
        c.close();
      });
      const results: Promise<SpliceResult>[] = [];
      const front = rt.listen({ host: "127.0.0.1", port: 0 }, async (c) => {
        const b = await rt.connect({ host: "127.0.0.1", port: backend.addr.port, timeoutMs: 2000 });
        results.push(rt.splice(wrap(c), wrap(b), {}));
      });
      try {
        const client = await rt.connect({
          host: "127.0.0.1",
          port: front.addr.port,
          timeoutMs: 2000,
        });
        await client.write(enc.encode("hi"));
        await client.closeWrite();
        assert.equal(dec.decode(await within(readAll(client), 5000, "the echo")), "echo:hi");
        client.close();
        await waitFor(() => results.length === 1, { timeoutMs: 2000 });
        const r = await within(results[0]!, 5000, "the splice result");
        assert.deepEqual([r.reason, r.up, r.down], ["eof", 2, 7]);
      } finally {
        front.close();
        backend.close();
      }
    },
  );
});

describe("splice() handover", () => {
  it(
    "hands over megabytes that queued up before the splice began, in order",
    { timeout: 15000 },
    async () => {
      const data = new Uint8Array(randomBytes(4 * MiB));
      const backend = rt.listen({ host: "127.0.0.1", port: 0 }, async (c) => {
        await c.write(data).catch(() => {}); // sent before anyone splices
        await c.closeWrite().catch(() => {});
        await readAll(c).catch(() => {});
        c.close();
      });
      const results: Promise<SpliceResult>[] = [];
      const front = rt.listen({ host: "127.0.0.1", port: 0 }, async (c) => {
        const b = await rt.connect({ host: "127.0.0.1", port: backend.addr.port, timeoutMs: 2000 });
        await delay(300); // the backend's bytes pile up on b (and the client's on c)
        results.push(rt.splice(c, b));
      });
      try {
        const client = await rt.connect({
          host: "127.0.0.1",
          port: front.addr.port,
          timeoutMs: 2000,
        });
        await client.write(enc.encode("early bytes"));
        await client.closeWrite();
        const got = await within(readAll(client), 10000, "the queued 4 MiB");
        client.close();
        assert.equal(got.byteLength, data.byteLength);
        assert.deepEqual(got, data);
        await waitFor(() => results.length === 1, { timeoutMs: 2000 });
        const r = await within(results[0]!, 5000, "the splice result");
        assert.deepEqual([r.reason, r.up, r.down], ["eof", 11, data.byteLength]);
      } finally {
        front.close();
        backend.close();
      }
    },
  );
});
