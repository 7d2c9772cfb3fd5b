// hash_key = "first_bytes:START-END": reads the client's first END bytes (or what arrives
// before the timeout or EOF) before a backend is chosen, and gives every byte read back to the
// connection, so the backend receives the stream unchanged.
import type { Conn } from "../runtime/types.ts";
import { deadline } from "../net/abortable.ts";

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * Returns bytes [start, end) of what the client sent first: shorter (possibly empty) when
 * fewer arrived within `timeoutMs` or before EOF. Everything read is unshift()ed back.
 * A read error other than the timeout is rethrown after giving back what was read.
 */
export async function readKeyBytes(
  conn: Conn,
  o: { start: number; end: number; timeoutMs: number },
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const dl = deadline(o.timeoutMs);
  try {
    while (total < o.end) {
      let chunk: Uint8Array | null;
      try {
        chunk = await conn.read({ signal: dl.signal });
      } catch (err) {
        if (dl.expired) break;
        throw err;
      }
      if (chunk === null) break;
      if (chunk.length === 0) continue;
      chunks.push(chunk);
      total += chunk.length;
    }
  } finally {
    dl.clear();
    if (total > 0) conn.unshift(concat(chunks, total));
  }
  if (total === 0) return new Uint8Array(0);
  // A copy: the caller may keep the key while the stream moves on.
  return concat(chunks, total).slice(Math.min(o.start, total), Math.min(o.end, total));
}
