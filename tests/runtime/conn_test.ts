// Conn in prelude mode: read() with a signal keeps the conn usable, unshift() hands bytes
// back, closeWrite() sends FIN while reading goes on, close() is idempotent.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SluiceError } from "../../src/errors.ts";
import type { Conn } from "../../src/runtime/types.ts";
import { dec, enc, readAll, rt } from "./_helpers.ts";
import { delay, waitFor, within } from "../_support/wait.ts";

async function pair(): Promise<{ server: Conn; client: Conn; close(): void }> {
  let server: Conn | undefined;
  const l = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => (server = c));
  const client = await rt.connect({ host: "127.0.0.1", port: l.addr.port, timeoutMs: 2000 });
  await waitFor(() => server !== undefined, { timeoutMs: 2000 });
  l.close();
  return {
    server: server!,
    client,
    close() {
      server?.close();
      client.close();
    },
  };
}

describe("Conn", () => {
  for (const side of ["accepted", "dialed"] as const) {
    it(
      `an aborted read() on the ${side} side rejects and loses no byte`,
      { timeout: 5000 },
      async () => {
        const p = await pair();
        const [reader, writer] = side === "accepted" ? [p.server, p.client] : [p.client, p.server];
        try {
          const ac = new AbortController();
          const r = reader.read({ signal: ac.signal });
          setTimeout(() => ac.abort(), 50);
          await assert.rejects(r, (e: unknown) => e instanceof SluiceError && e.code === "ABORTED");
          await assert.rejects(
            reader.read({ signal: AbortSignal.timeout(50) }),
            (e: unknown) => e instanceof SluiceError && e.code === "ETIMEDOUT",
          );
          await writer.write(enc.encode("after the abort"));
          await writer.closeWrite();
          assert.equal(
            dec.decode(await within(readAll(reader), 2000, "the bytes")),
            "after the abort",
          );
        } finally {
          p.close();
        }
      },
    );
  }

  it("refuses a second read() while one is pending", { timeout: 5000 }, async () => {
    const p = await pair();
    try {
      const first = p.server.read();
      await assert.rejects(p.server.read(), SluiceError);
      await p.client.write(enc.encode("once"));
      assert.equal(dec.decode((await within(first, 2000, "the first read"))!), "once");
    } finally {
      p.close();
    }
  });

  it("unshift() returns bytes to the front, in order", { timeout: 5000 }, async () => {
    const p = await pair();
    try {
      await p.client.write(enc.encode("abcdef"));
      await p.client.closeWrite();
      let first = await p.server.read();
      while (first && first.byteLength < 6) {
        const more = await p.server.read();
        if (!more) break;
        first = new Uint8Array([...first, ...more]);
      }
      p.server.unshift(first!.subarray(3));
      p.server.unshift(first!.subarray(1, 3));
      assert.equal(dec.decode(await readAll(p.server)), "bcdef");
    } finally {
      p.close();
    }
  });

  it(
    "closeWrite() sends FIN while the other direction keeps flowing",
    { timeout: 5000 },
    async () => {
      const p = await pair();
      try {
        await p.client.closeWrite();
        assert.equal(await within(p.server.read(), 2000, "FIN"), null);
        await p.server.write(enc.encode("still talking"));
        await p.server.closeWrite();
        assert.equal(
          dec.decode(await within(readAll(p.client), 2000, "the reply")),
          "still talking",
        );
      } finally {
        p.close();
      }
    },
  );

  it("close() is idempotent and the peer sees the end", { timeout: 5000 }, async () => {
    const p = await pair();
    try {
      p.server.close();
      p.server.close();
      p.server.abort?.();
      const r = await within(p.client.read().catch(() => null), 2000, "the close");
      assert.equal(r, null);
      await delay(20);
      await assert.rejects(p.server.write(enc.encode("x")), SluiceError);
    } finally {
      p.close();
    }
  });

  it(
    "buffers a fast sender's bytes in prelude mode without losing any",
    { timeout: 10000 },
    async () => {
      const p = await pair();
      try {
        const total = 4 * 1024 * 1024;
        const block = new Uint8Array(64 * 1024).map((_, i) => i % 251);
        const sending = (async () => {
          for (let n = 0; n < total; n += block.byteLength) await p.client.write(block);
          await p.client.closeWrite();
        })();
        await delay(200); // let the server side fill up while nobody reads
        const got = await within(readAll(p.server), 5000, "4 MiB");
        await sending;
        assert.equal(got.byteLength, total);
        assert.ok(got.every((v, i) => v === (i % block.byteLength) % 251));
      } finally {
        p.close();
      }
    },
  );
});
