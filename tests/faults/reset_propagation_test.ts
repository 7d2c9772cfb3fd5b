// Issue 12 bug 14: a reset on one side is passed on as an abort, not as a clean FIN, so a
// truncated stream does not look like a normal end; the splice result names the reason.
// Deno's TCP API has no SO_LINGER (no RST on close): there the result still names the reset,
// and the peer sees the connection end (checked), but as a FIN.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Conn, SpliceResult } from "../../src/runtime/types.ts";
import { dec, enc, rt, startProxy } from "../runtime/_helpers.ts";
import { within } from "../_support/wait.ts";

/** Reads until the end: the text and how it ended ("fin" or the error code). */
async function drain(c: Conn): Promise<{ text: string; end: string }> {
  let text = "";
  try {
    for (;;) {
      const d = await c.read();
      if (d === null) return { text, end: "fin" };
      text += dec.decode(d);
    }
  } catch (e) {
    return { text, end: (e as { code?: string }).code ?? String(e) };
  }
}

const canReset = rt.name === "bun";

describe("a reset is propagated as a reset", () => {
  it("backend resets: the client sees it, the result names it", { timeout: 60_000 }, async () => {
    // The backend writes, then resets: abort(), and unread bytes in its socket (the client
    // sends some) so that a plain close resets too where abort() cannot (Deno).
    const backend = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => {
      void c.write(enc.encode("partial")).then(() => setTimeout(() => c.abort!(), 200));
    });
    const proxy = startProxy(backend.addr.port);
    try {
      for (let round = 0; round < 5; round++) {
        const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 5000 });
        await client.write(enc.encode("never read"));
        const got = await within(drain(client), 20_000, "the client's reads to end");
        const r: SpliceResult = await within(proxy.results[round]!, 20_000, "the result");
        client.close();
        assert.equal(got.text, "partial");
        assert.equal(r.reason, "error");
        assert.equal(r.errorSide, "b");
        assert.equal((r.error as { code?: string }).code, "ECONNRESET");
        if (canReset) assert.equal(got.end, "ECONNRESET", "the client is reset, not FINed");
        else assert.ok(got.end === "fin" || got.end === "ECONNRESET", got.end);
      }
    } finally {
      proxy.close();
      backend.close();
    }
  });

  it("client resets: the backend sees it, the result names it", { timeout: 60_000 }, async () => {
    const ends: Promise<{ text: string; end: string }>[] = [];
    // Bytes the client never reads: its plain close resets too where abort() cannot (Deno).
    const backend = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => {
      void c.write(enc.encode("never read")).catch(() => {});
      ends.push(drain(c));
    });
    const proxy = startProxy(backend.addr.port);
    try {
      for (let round = 0; round < 5; round++) {
        const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 5000 });
        await client.write(enc.encode("partial"));
        // Wait until the backend has the bytes, then reset the client side.
        for (let i = 0; i < 200 && ends.length <= round; i++) {
          await new Promise((r) => setTimeout(r, 20));
        }
        await new Promise((r) => setTimeout(r, 200));
        client.abort!();
        const r: SpliceResult = await within(proxy.results[round]!, 20_000, "the result");
        const got = await within(ends[round]!, 20_000, "the backend's reads to end");
        assert.equal(got.text, "partial");
        assert.equal(r.reason, "error");
        assert.equal(r.errorSide, "a");
        assert.equal((r.error as { code?: string }).code, "ECONNRESET");
        if (canReset) assert.equal(got.end, "ECONNRESET", "the backend is reset, not FINed");
        else assert.ok(got.end === "fin" || got.end === "ECONNRESET", got.end);
      }
    } finally {
      proxy.close();
      backend.close();
    }
  });
});
