// Shared helpers for the runtime adapter tests (waits live in ../_support/wait.ts): reading a
// conn to its end, fd counting, and a minimal splice proxy built only from the Runtime interface.
import { readdirSync } from "node:fs";
import { getRuntime } from "../../src/runtime/detect.ts";
import type { Conn, Listener, SpliceOptions, SpliceResult } from "../../src/runtime/types.ts";

export const rt = getRuntime();

import { concat } from "../_support/helpers.ts";

export { concat };

/** Reads until FIN; copies chunks (a runtime may reuse its buffers). */
export async function readAll(c: Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for (;;) {
    const d = await c.read();
    if (d === null) return concat(chunks);
    chunks.push(d.slice());
  }
}

export const enc = new TextEncoder();
export const dec = new TextDecoder();

export function fdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

export interface TestProxy {
  readonly port: number;
  readonly results: Promise<SpliceResult>[];
  readonly listener: Listener;
  close(): void;
}

/**
 * A one-route proxy: accepts on a loopback port, dials `backendPort`, splices. `prelude` may
 * read from the client first (it runs before the dial).
 */
export function startProxy(
  backendPort: number,
  o: { splice?: () => SpliceOptions; prelude?: (c: Conn) => Promise<void> } = {},
): TestProxy {
  const results: Promise<SpliceResult>[] = [];
  const listener = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => {
    const p = (async () => {
      try {
        if (o.prelude) await o.prelude(c);
        const b = await rt.connect({ host: "127.0.0.1", port: backendPort, timeoutMs: 5000 });
        return await rt.splice(c, b, o.splice?.() ?? {});
      } catch (e) {
        c.close();
        throw e;
      }
    })();
    results.push(p);
  });
  return { port: listener.addr.port, results, listener, close: () => listener.close() };
}
