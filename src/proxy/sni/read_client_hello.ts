// Reads a connection's TLS ClientHello for its server name, bounded in bytes and time, and gives
// every byte read back to the connection (unshift), so the chosen backend receives the client's
// stream unchanged, as balancer/first_bytes.ts does for hashing.
import type { Conn } from "../../runtime/types.ts";
import { type ClientHelloResult, parseClientHello } from "./client_hello.ts";

/** How reading the ClientHello ended. */
export type ClientHelloRead =
  | Exclude<ClientHelloResult, { kind: "need_more" }>
  /** `timeoutMs` passed before the ClientHello was complete. */
  | { readonly kind: "timeout" }
  /** The ClientHello is (or would be) larger than `maxBytes`. */
  | { readonly kind: "too_large" }
  /** The client sent FIN before the ClientHello was complete. */
  | { readonly kind: "eof" }
  /** The caller's `signal` fired. */
  | { readonly kind: "aborted" };

export interface ReadClientHelloOptions {
  /** Give up once this many bytes are read without a complete ClientHello. @default 16384 */
  maxBytes?: number;
  /** Give up after this long (`sni_timeout`). @default 5000 */
  timeoutMs?: number;
  /** Stop at once (shutdown, listener closed). */
  signal?: AbortSignal;
}

export interface ClientHelloReadOutcome {
  readonly result: ClientHelloRead;
  /**
   * Every byte read, in order: already given back to `conn` with unshift() (the next read() or
   * splice() delivers them first, so do not send them again, nor modify them).
   */
  readonly bytes: Uint8Array;
}

/**
 * Reads from `conn` until its first bytes are a complete ClientHello, are not TLS, exceed
 * `maxBytes`, or time runs out. A read error other than the timeout or abort is rethrown after
 * giving back what was read.
 */
export async function readClientHello(
  conn: Conn,
  o: ReadClientHelloOptions = {},
): Promise<ClientHelloReadOutcome> {
  const maxBytes = o.maxBytes ?? 16384;
  let buf = new Uint8Array(0);
  let total = 0;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), o.timeoutMs ?? 5000);
  const onAbort = () => ac.abort();
  o.signal?.addEventListener("abort", onAbort, { once: true });
  let result: ClientHelloRead | undefined;
  try {
    if (o.signal?.aborted) result = { kind: "aborted" };
    while (result === undefined) {
      let chunk: Uint8Array | null;
      try {
        chunk = await conn.read({ signal: ac.signal });
      } catch (err) {
        if (!ac.signal.aborted) throw err;
        result = o.signal?.aborted ? { kind: "aborted" } : { kind: "timeout" };
        break;
      }
      if (chunk === null) {
        result = { kind: "eof" };
        break;
      }
      if (chunk.length === 0) continue;
      if (total + chunk.length > buf.length) {
        // Grow by doubling: a client dribbling one byte at a time costs O(n) copies in all.
        const next = new Uint8Array(Math.max(total + chunk.length, buf.length * 2, 512));
        next.set(buf.subarray(0, total));
        buf = next;
      }
      buf.set(chunk, total);
      total += chunk.length;
      const r = parseClientHello(buf.subarray(0, total));
      if (r.kind !== "need_more") result = r;
      else if (total >= maxBytes || r.atLeast > maxBytes) result = { kind: "too_large" };
    }
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener("abort", onAbort);
    buf = buf.slice(0, total);
    if (total > 0) conn.unshift(buf);
  }
  return { result, bytes: buf };
}
