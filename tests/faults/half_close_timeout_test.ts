// Issue 12: a half-closed connection whose other side never finishes is closed after
// halfCloseTimeoutMs without a byte (HAProxy's client-fin/server-fin); one that still moves
// bytes one way is not.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Conn } from "../../src/runtime/types.ts";
import { dec, enc, rt, startProxy } from "../runtime/_helpers.ts";
import { delay, within } from "../_support/wait.ts";

async function readToEnd(c: Conn): Promise<string> {
  let text = "";
  try {
    for (;;) {
      const d = await c.read();
      if (d === null) return text;
      text += dec.decode(d);
    }
  } catch {
    return text;
  }
}

describe("splice half_close timeout", () => {
  it("a client FIN with a backend that never finishes: closed as half_close", {
    timeout: 60_000,
  }, async () => {
    const backendEnds: Promise<string>[] = [];
    // Reads everything (the client's FIN too), never answers, never closes.
    const backend = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => {
      backendEnds.push(readToEnd(c));
    });
    const proxy = startProxy(backend.addr.port, { splice: () => ({ halfCloseTimeoutMs: 300 }) });
    try {
      for (let round = 0; round < 3; round++) {
        const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 5000 });
        await client.write(enc.encode("request"));
        await client.closeWrite();
        const r = await within(proxy.results[round]!, 20_000, "the splice to end");
        assert.equal(r.reason, "half_close");
        assert.equal(r.up, 7);
        // Both sockets are closed: the client's read ends, the backend's too.
        await within(readToEnd(client), 10_000, "the client socket to close");
        assert.equal(await within(backendEnds[round]!, 10_000, "the backend side"), "request");
        client.close();
      }
    } finally {
      proxy.close();
      backend.close();
    }
  });

  it("bytes still flowing the other way keep a half-closed connection open", {
    timeout: 60_000,
  }, async () => {
    const backend = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => {
      void (async () => {
        // Waits for the client's FIN, then streams for longer than the timeout, then ends.
        await readToEnd(c).catch(() => "");
        for (let i = 0; i < 60; i++) {
          await c.write(enc.encode("."));
          await delay(50);
        }
        await c.closeWrite();
        c.close();
      })().catch(() => c.close());
    });
    const proxy = startProxy(backend.addr.port, { splice: () => ({ halfCloseTimeoutMs: 2000 }) });
    try {
      const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 5000 });
      await client.closeWrite();
      const got = await within(readToEnd(client), 30_000, "the stream");
      const r = await within(proxy.results[0]!, 20_000, "the splice to end");
      client.close();
      assert.equal(got, ".".repeat(60));
      assert.equal(r.reason, "eof");
    } finally {
      proxy.close();
      backend.close();
    }
  });
});
