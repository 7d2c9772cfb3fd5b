// PROXY protocol v1 (text) and v2 (binary) header codec, per haproxy's proxy-protocol.txt,
// and readProxyHeader(), which takes a header off the front of an accepted connection.
// Mixed families (an IPv4 client on an IPv6 listener or the reverse) are sent as TCP6 with the
// IPv4 side mapped (::ffff:a.b.c.d): nothing is lost, and decoding maps it back to plain IPv4,
// the form SockAddr uses everywhere.
import type { Conn, SockAddr } from "../runtime/types.ts";
import { SluiceError } from "../errors.ts";
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "../net/ip_literal.ts";
import { deadline } from "../net/abortable.ts";

/** The 12-byte v2 signature: "\r\n\r\n\0\r\nQUIT\n". */
const V2_SIGNATURE: Uint8Array = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);
const V1_PREFIX = new TextEncoder().encode("PROXY ");
/** The longest v1 line, CRLF included ("PROXY UNKNOWN ffff:...:ffff ... 65535 65535\r\n"). */
export const V1_MAX = 107;
/** 16 fixed bytes plus at most 65535 of addresses and TLVs. */
export const V2_MAX = 16 + 0xffff;

export type ProxyHeader =
  | { readonly status: "incomplete" }
  | {
    readonly status: "ok";
    /** Header bytes, to drop from the stream */
    readonly consumed: number;
    /** Absent for LOCAL, UNKNOWN / UNSPEC and non-TCP families: use the real endpoints */
    readonly src?: SockAddr;
    readonly dst?: SockAddr;
    readonly command: "PROXY" | "LOCAL";
  };

function fail(why: string): never {
  throw new SluiceError("PROXY_PROTOCOL", `malformed PROXY header: ${why}`);
}

/** 16 bytes of `a` as IPv6, mapping IPv4 into ::ffff:0:0/96. */
function v6Bytes(a: SockAddr): Uint8Array {
  if (a.family === 4) {
    const v4 = parseIPv4(a.host);
    if (!v4) throw new SluiceError("PROXY_PROTOCOL", `not an IPv4 address: ${a.host}`);
    const out = new Uint8Array(16);
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(v4, 12);
    return out;
  }
  const b = parseIPv6(a.host);
  if (!b) throw new SluiceError("PROXY_PROTOCOL", `not an IPv6 address: ${a.host}`);
  return b;
}

function v4Bytes(a: SockAddr): Uint8Array {
  const b = parseIPv4(a.host);
  if (!b) throw new SluiceError("PROXY_PROTOCOL", `not an IPv4 address: ${a.host}`);
  return b;
}

/** A SockAddr from 16 bytes: IPv4-mapped becomes plain IPv4. */
function fromV6(b: Uint8Array, port: number): SockAddr {
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return { host: formatIPv4(b.subarray(12, 16)), port, family: 4 };
  return { host: formatIPv6(b), port, family: 6 };
}

function checkPort(p: number): void {
  if (!Number.isInteger(p) || p < 0 || p > 65535) {
    throw new SluiceError("PROXY_PROTOCOL", `port out of range: ${p}`);
  }
}

/** "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n" */
export function encodeProxyV1(src: SockAddr, dst: SockAddr): Uint8Array {
  checkPort(src.port);
  checkPort(dst.port);
  let line: string;
  if (src.family === 4 && dst.family === 4) {
    line = `PROXY TCP4 ${formatIPv4(v4Bytes(src))} ${
      formatIPv4(v4Bytes(dst))
    } ${src.port} ${dst.port}\r\n`;
  } else {
    // Canonical text; a mapped IPv4 address is written as ::ffff:a.b.c.d, which every v1
    // parser (inet_pton) accepts.
    const text = (a: SockAddr) =>
      a.family === 4 ? `::ffff:${formatIPv4(v4Bytes(a))}` : formatIPv6(v6Bytes(a));
    line = `PROXY TCP6 ${text(src)} ${text(dst)} ${src.port} ${dst.port}\r\n`;
  }
  return new TextEncoder().encode(line);
}

/** A v2 PROXY header for TCP over IPv4 (family 0x11) or IPv6 (0x21), no TLVs. */
export function encodeProxyV2(src: SockAddr, dst: SockAddr): Uint8Array {
  checkPort(src.port);
  checkPort(dst.port);
  const v4 = src.family === 4 && dst.family === 4;
  const addrLen = v4 ? 12 : 36;
  const out = new Uint8Array(16 + addrLen);
  out.set(V2_SIGNATURE, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = v4 ? 0x11 : 0x21; // AF_INET / AF_INET6, STREAM
  out[14] = addrLen >> 8;
  out[15] = addrLen & 0xff;
  const view = new DataView(out.buffer);
  if (v4) {
    out.set(v4Bytes(src), 16);
    out.set(v4Bytes(dst), 20);
    view.setUint16(24, src.port);
    view.setUint16(26, dst.port);
  } else {
    out.set(v6Bytes(src), 16);
    out.set(v6Bytes(dst), 32);
    view.setUint16(48, src.port);
    view.setUint16(50, dst.port);
  }
  return out;
}

/** A v2 LOCAL header (health checks from the proxy itself): the receiver uses the real endpoints. */
export function encodeProxyV2Local(): Uint8Array {
  const out = new Uint8Array(16);
  out.set(V2_SIGNATURE, 0);
  out[12] = 0x20;
  return out;
}

/** True when `buf` so far agrees with `prefix` (possibly shorter than it). */
function agrees(buf: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

function parseV1Port(s: string): number {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(s)) fail(`bad port "${s}"`);
  const n = Number(s);
  if (n > 65535) fail(`port out of range: ${s}`);
  return n;
}

function decodeV1(buf: Uint8Array): ProxyHeader {
  let end = -1;
  const limit = Math.min(buf.length, V1_MAX);
  for (let i = 0; i + 1 < limit; i++) {
    if (buf[i] === 0x0d && buf[i + 1] === 0x0a) {
      end = i;
      break;
    }
  }
  if (end < 0) {
    if (buf.length >= V1_MAX) fail(`v1 line longer than ${V1_MAX} bytes`);
    // A lone CR or LF where the line must go on is malformed already.
    for (let i = 0; i < buf.length - 1; i++) {
      if (buf[i] === 0x0a || buf[i] === 0x0d) fail("v1 line has a stray CR or LF");
    }
    return { status: "incomplete" };
  }
  const consumed = end + 2;
  let line = "";
  for (let i = 0; i < end; i++) {
    const c = buf[i]!;
    if (c < 0x20 || c > 0x7e) fail("v1 line is not printable ASCII");
    line += String.fromCharCode(c);
  }
  const parts = line.split(" ");
  if (parts[1] === "UNKNOWN") {
    // "the receiver must ignore anything presented before the CRLF is found"
    return { status: "ok", consumed, command: "PROXY" };
  }
  if (parts.length !== 6) fail(`v1 line must have 6 fields, got "${line}"`);
  const [, proto, s, d, sp, dp] = parts as [string, string, string, string, string, string];
  let src: SockAddr;
  let dst: SockAddr;
  if (proto === "TCP4") {
    const sb = parseIPv4(s);
    const db = parseIPv4(d);
    if (!sb || !db) fail(`v1 TCP4 addresses must be IPv4: "${s}" "${d}"`);
    src = { host: formatIPv4(sb), port: parseV1Port(sp), family: 4 };
    dst = { host: formatIPv4(db), port: parseV1Port(dp), family: 4 };
  } else if (proto === "TCP6") {
    // parseIPv6 takes brackets; v1 never has them.
    const sb = s.includes("[") ? null : parseIPv6(s);
    const db = d.includes("[") ? null : parseIPv6(d);
    if (!sb || !db) fail(`v1 TCP6 addresses must be IPv6: "${s}" "${d}"`);
    src = fromV6(sb, parseV1Port(sp));
    dst = fromV6(db, parseV1Port(dp));
  } else {
    fail(`v1 protocol must be TCP4, TCP6 or UNKNOWN, got "${proto}"`);
  }
  return { status: "ok", consumed, src, dst, command: "PROXY" };
}

function decodeV2(buf: Uint8Array): ProxyHeader {
  if (buf.length < 16) return { status: "incomplete" };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) fail(`v2 version must be 2, got ${verCmd >> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) fail(`v2 command must be LOCAL or PROXY, got ${cmd}`);
  const famProto = buf[13]!;
  const fam = famProto >> 4;
  const proto = famProto & 0x0f;
  if (fam > 3) fail(`v2 address family ${fam} unknown`);
  if (proto > 2) fail(`v2 transport ${proto} unknown`);
  const len = (buf[14]! << 8) | buf[15]!;
  const consumed = 16 + len;
  if (cmd === 0) {
    // LOCAL: the sender's own connection (a health check); addresses, if any, are ignored.
    if (buf.length < consumed) return { status: "incomplete" };
    return { status: "ok", consumed, command: "LOCAL" };
  }
  // The address block must fit the declared length (TLVs may follow it and are skipped).
  const need = fam === 1 ? 12 : fam === 2 ? 36 : fam === 3 ? 216 : 0;
  if (len < need) fail(`v2 length ${len} too short for address family ${fam} (needs ${need})`);
  if (buf.length < consumed) return { status: "incomplete" };
  // Only TCP over IPv4/IPv6 carries addresses sluice can use; UNSPEC, UDP and unix sockets
  // fall back to the real connection endpoints, as the spec asks.
  if (proto !== 1 || (fam !== 1 && fam !== 2)) return { status: "ok", consumed, command: "PROXY" };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (fam === 1) {
    return {
      status: "ok",
      consumed,
      command: "PROXY",
      src: { host: formatIPv4(buf.subarray(16, 20)), port: view.getUint16(24), family: 4 },
      dst: { host: formatIPv4(buf.subarray(20, 24)), port: view.getUint16(26), family: 4 },
    };
  }
  return {
    status: "ok",
    consumed,
    command: "PROXY",
    src: fromV6(buf.subarray(16, 32), view.getUint16(48)),
    dst: fromV6(buf.subarray(32, 48), view.getUint16(50)),
  };
}

/**
 * Decodes a v1 or v2 header at the start of `buf`. "incomplete" means more bytes are needed;
 * anything that cannot become a valid header throws a PROXY_PROTOCOL SluiceError.
 */
export function decodeProxyHeader(buf: Uint8Array): ProxyHeader {
  if (buf.length === 0) return { status: "incomplete" };
  if (agrees(buf, V2_SIGNATURE)) {
    return buf.length < V2_SIGNATURE.length ? { status: "incomplete" } : decodeV2(buf);
  }
  if (agrees(buf, V1_PREFIX)) {
    return buf.length < V1_PREFIX.length ? { status: "incomplete" } : decodeV1(buf);
  }
  fail("the connection does not start with a v1 or v2 signature");
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * Reads a PROXY header off `conn` within `timeoutMs`. Bytes after the header (the client's
 * first payload, often in the same segment) are unshift()ed back so the backend gets them.
 * Returns the addresses it carries (none for LOCAL / UNKNOWN). Throws a PROXY_PROTOCOL
 * SluiceError on timeout, malformed input or EOF before the header is complete.
 */
export async function readProxyHeader(
  conn: Conn,
  o: { timeoutMs: number },
): Promise<{ src?: SockAddr; dst?: SockAddr }> {
  const dl = deadline(o.timeoutMs);
  let buf: Uint8Array = new Uint8Array(0);
  try {
    for (;;) {
      let chunk: Uint8Array | null;
      try {
        chunk = await conn.read({ signal: dl.signal });
      } catch (err) {
        if (dl.expired) {
          throw new SluiceError(
            "PROXY_PROTOCOL",
            `no complete PROXY header within ${o.timeoutMs}ms (got ${buf.length} bytes)`,
          );
        }
        throw new SluiceError("PROXY_PROTOCOL", "reading the PROXY header failed", { cause: err });
      }
      if (chunk === null) {
        throw new SluiceError(
          "PROXY_PROTOCOL",
          `connection closed after ${buf.length} bytes of a PROXY header`,
        );
      }
      buf = concat(buf, chunk);
      const h = decodeProxyHeader(buf);
      if (h.status === "incomplete") continue;
      if (h.consumed < buf.length) conn.unshift(buf.slice(h.consumed));
      const out: { src?: SockAddr; dst?: SockAddr } = {};
      if (h.src) out.src = h.src;
      if (h.dst) out.dst = h.dst;
      return out;
    }
  } finally {
    dl.clear();
  }
}
