// Builders over real ClientHello bytes: re-frame the handshake message into other TLS record
// sizes, and add an extension (to make a ClientHello larger than one packet).
import { concat as concatBytes } from "../../_support/helpers.ts";

export { concatBytes };

/** The handshake bytes carried by the TLS records of `wire` (every record, in order). */
export function handshakeBytes(wire: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let off = 0;
  while (off + 5 <= wire.length) {
    const len = (wire[off + 3]! << 8) | wire[off + 4]!;
    parts.push(wire.subarray(off + 5, off + 5 + len));
    off += 5 + len;
  }
  return concatBytes(parts);
}

/**
 * The same handshake bytes in records of the given sizes (the last size repeats until all is
 * framed), with record version 0x0301 as clients send it.
 */
export function reframe(wire: Uint8Array, sizes: readonly number[]): Uint8Array {
  return frame(handshakeBytes(wire), sizes);
}

/** Handshake bytes in records of the given sizes (the last size repeats). */
export function frame(hs: Uint8Array, sizes: readonly number[]): Uint8Array {
  const out: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; at < hs.length; i++) {
    const n = Math.min(Math.max(1, sizes[Math.min(i, sizes.length - 1)]!), hs.length - at);
    out.push(new Uint8Array([0x16, 0x03, 0x01, n >> 8, n & 0xff]), hs.subarray(at, at + n));
    at += n;
  }
  return concatBytes(out);
}

/**
 * The ClientHello of `wire` with one more extension placed first among its extensions, every
 * length fixed up, re-framed into records of at most 16384 bytes.
 */
export function withExtension(wire: Uint8Array, type: number, data: Uint8Array): Uint8Array {
  const hs = handshakeBytes(wire);
  let p = 4 + 2 + 32;
  p += 1 + hs[p]!; // session id
  p += 2 + ((hs[p]! << 8) | hs[p + 1]!); // cipher suites
  p += 1 + hs[p]!; // compression
  const extLen = (hs[p]! << 8) | hs[p + 1]!;
  const ext = new Uint8Array(4 + data.length);
  ext.set([type >> 8, type & 0xff, data.length >> 8, data.length & 0xff]);
  ext.set(data, 4);
  const newExtLen = extLen + ext.length;
  const body = concatBytes([
    hs.subarray(4, p),
    new Uint8Array([newExtLen >> 8, newExtLen & 0xff]),
    ext,
    hs.subarray(p + 2),
  ]);
  const msg = concatBytes([
    new Uint8Array([0x01, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]),
    body,
  ]);
  return frame(msg, [16384]);
}
