// Shared helpers for the runtime adapter tests: bounded waits, reading a conn to its end,
// fd counting, and a minimal splice proxy built only from the Runtime interface.
import { readdirSync } from "node:fs";
import { getRuntime } from "../../src/runtime/detect.ts";
import type { Conn, Listener, SpliceOptions, SpliceResult } from "../../src/runtime/types.ts";

export const rt = getRuntime();

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Rejects with a message naming `what` when `p` takes longer than `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Polls `cond` every 20 ms until true or `ms` elapsed; returns the last value. */
export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(20);
  }
  return cond();
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

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
