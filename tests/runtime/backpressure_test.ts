// splice() backpressure: a client that stops reading must not make the proxy buffer what the
// backend keeps sending.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import type { Conn } from "../../src/runtime/types.ts";
import { rt, startProxy } from "./_helpers.ts";
import { waitFor, within } from "../_support/wait.ts";

const MiB = 1024 * 1024;
const TOTAL = 200 * MiB;

describe("splice() backpressure", () => {
  it(
    "does not grow RSS by 32 MiB while a stalled client is sent 200 MiB",
    { timeout: 120000 },
    async () => {
      let sent = 0;
      let sending: Promise<void> | undefined;
      const block = new Uint8Array(256 * 1024).fill(7);
      const backend = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => {
        sending = (async () => {
          while (sent < TOTAL) {
            await c.write(block);
            sent += block.byteLength;
          }
          await c.closeWrite();
        })().catch(() => {}).finally(() => c.close());
      });
      const counters = { up: 0, down: 0 };
      const proxy = startProxy(backend.addr.port, { splice: () => ({ counters }) });
      let client: Conn | undefined;
      try {
        // Warm up allocators and JIT with a small transfer so the baseline is fair.
        client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 2000 });
        await waitFor(() => sent > 0, { timeoutMs: 2000 });
        const base = process.memoryUsage().rss;
        // The client reads nothing: the copy must stall once socket buffers are full.
        let last = -1;
        await waitFor(() => {
          const steady = counters.down === last;
          last = counters.down;
          return steady;
        }, { timeoutMs: 6000, intervalMs: 150, what: "the copy to stall (no byte for 150 ms)" });
        const stalledAt = counters.down;
        const grown = process.memoryUsage().rss - base;
        assert.ok(stalledAt < TOTAL, `the copy stalled (moved ${stalledAt} bytes)`);
        assert.ok(sent < TOTAL, "the backend was held back");
        assert.ok(grown < 32 * MiB, `RSS grew by ${(grown / MiB).toFixed(1)} MiB`);
        // Reading again drains everything.
        let got = 0;
        await within(
          (async () => {
            for (;;) {
              const d = await client!.read();
              if (d === null) break;
              got += d.byteLength;
            }
          })(),
          90000,
          "the rest of the 200 MiB",
        );
        assert.equal(got, TOTAL);
        await client.closeWrite();
        await within(sending!, 5000, "the backend to finish");
        const r = await within(proxy.results[0]!, 5000, "the splice result");
        assert.equal(r.down, TOTAL);
      } finally {
        client?.close();
        proxy.close();
        backend.close();
      }
    },
  );
});
