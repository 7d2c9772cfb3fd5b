// The buffer the Consul list is read into, answer after answer: each read gives exactly its
// bytes, whatever the chunks, and a buffer grown by one huge answer is let go again.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { BodyBuffer, readCapped } from "../../src/providers/http_client.ts";
import { SluiceError } from "../../src/errors.ts";
import { delay } from "../_support/wait.ts";
import { concat } from "../_support/helpers.ts";

/** An answer whose body arrives in the given chunks. */
function answer(chunks: readonly Uint8Array[]): Response {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of chunks) c.enqueue(chunk);
      c.close();
    },
  });
  return new Response(body);
}

const read = (chunks: readonly Uint8Array[], into: BodyBuffer, max = 1 << 22) =>
  readCapped(answer(chunks), { max, who: "consul", url: "http://127.0.0.1:1/x", into });

describe("BodyBuffer", () => {
  it("gives each read exactly its bytes, one buffer for every read", async () => {
    const into = new BodyBuffer();
    const chunk = fc.uint8Array({ maxLength: 70_000 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(chunk, { maxLength: 5 }), { maxLength: 5 }),
        async (reads) => {
          for (const chunks of reads) {
            // A copy: the next read overwrites the buffer the view points into.
            const got = (await read(chunks, into)).slice();
            assert.deepEqual(got, concat(chunks));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("refuses an answer over the cap, and reads the next one whole", async () => {
    const into = new BodyBuffer();
    const big = [new Uint8Array(600).fill(1), new Uint8Array(600).fill(2)];
    await assert.rejects(
      read(big, into, 1000),
      (e: unknown) => e instanceof SluiceError && e.code === "PROVIDER_TOO_LARGE",
    );
    assert.deepEqual(await read([Uint8Array.of(7, 8, 9)], into, 1000), Uint8Array.of(7, 8, 9));
  });

  it("a read given up cannot write into the next read's bytes", async () => {
    // A request that timed out is abandoned, but its body stream may still deliver a chunk
    // while the next read is under way.
    const into = new BodyBuffer();
    const controlled = () => {
      let c!: ReadableStreamDefaultController<Uint8Array>;
      const res = new Response(new ReadableStream<Uint8Array>({ start: (x) => void (c = x) }));
      return { res, c: () => c };
    };
    const a = controlled();
    a.c().enqueue(new Uint8Array(5).fill(0xaa));
    const abandoned = readCapped(a.res, { max: 1 << 20, who: "consul", url: "u", into });
    await delay(10);
    const b = controlled();
    const next = readCapped(b.res, { max: 1 << 20, who: "consul", url: "u", into });
    await delay(10);
    a.c().enqueue(new Uint8Array(5).fill(0xbb));
    a.c().close();
    await assert.rejects(abandoned, /superseded/);
    b.c().enqueue(Uint8Array.of(1, 2, 3));
    b.c().close();
    assert.deepEqual(await next, Uint8Array.of(1, 2, 3));
  });

  it("lets go of a buffer grown by one huge answer once answers are small again", async () => {
    const into = new BodyBuffer();
    const first = await read([new Uint8Array(8 << 20)], into, 16 << 20);
    assert.equal(first.buffer.byteLength >= 8 << 20, true);
    await read([new Uint8Array(100)], into);
    // The read after a small one no longer needs the 8 MiB.
    const third = await read([new Uint8Array(100)], into);
    assert.ok(third.buffer.byteLength < 1 << 20, `${third.buffer.byteLength} bytes kept`);
  });
});
