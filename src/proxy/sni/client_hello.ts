// Reads the server name out of a TLS ClientHello without terminating TLS: a pure function of
// the bytes received so far, called again as more arrive (split TCP segments, handshake message
// fragmented over several TLS records). Bounded by its input: every step advances by a length
// read from the input, and nothing is allocated beyond one copy of the handshake bytes.

/** What the first bytes of a connection say about its TLS server name. */
export type ClientHelloResult =
  /** A well-formed ClientHello naming `name` (lower-cased, without a trailing dot). */
  | { readonly kind: "name"; readonly name: string }
  /** A well-formed ClientHello without a server_name extension (or with no host_name in it). */
  | { readonly kind: "no_sni" }
  /** Not a well-formed TLS ClientHello (other protocol, SSLv2 hello, a lying length, ...). */
  | { readonly kind: "not_tls" }
  /**
   * Everything so far is consistent with a ClientHello that has not fully arrived. `atLeast`
   * is a lower bound on the total bytes the whole ClientHello takes (always > bytes given), so
   * a caller with a byte limit can give up early. (Later bytes may still show it is not TLS.)
   */
  | { readonly kind: "need_more"; readonly atLeast: number };

const RECORD_HEADER = 5;
const CONTENT_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
/** RFC 8446 5.1: a plaintext record carries at most 2^14 bytes. */
const MAX_RECORD = 16384;
/** version(2) random(32) session_id<0..32>(1) cipher_suites<2..>(2+2) compression<1..>(1+1) */
const MIN_HELLO_BODY = 2 + 32 + 1 + 4 + 2;
const EXT_SERVER_NAME = 0x0000;
const NAME_TYPE_HOST = 0x00;
const MAX_HOST_NAME = 255;

const NOT_TLS: ClientHelloResult = Object.freeze({ kind: "not_tls" });
const NO_SNI: ClientHelloResult = Object.freeze({ kind: "no_sni" });

function needMore(atLeast: number): ClientHelloResult {
  return { kind: "need_more", atLeast };
}

/** Record-layer and legacy versions: SSL 3.0 to TLS 1.3 (0x0300..0x0304). */
function badVersion(major: number, minor: number | undefined): boolean {
  return major !== 0x03 || (minor !== undefined && minor > 0x04);
}

/**
 * Parses the ClientHello at the start of `bytes` (everything received so far, from the first
 * byte of the connection). Never throws; the time taken is linear in `bytes.length`.
 */
export function parseClientHello(bytes: Uint8Array): ClientHelloResult {
  // 1. The record layer: gather the handshake bytes that arrived, record by record.
  const parts: Uint8Array[] = [];
  let have = 0; // handshake bytes arrived
  let declared = 0; // handshake bytes promised by the record headers seen
  let helloTotal = -1; // 4 + the ClientHello's length, once known
  let off = 0;
  for (;;) {
    if (helloTotal >= 0 && declared >= helloTotal) break; // the records hold the whole message
    const left = bytes.length - off;
    if (left <= 0) break; // another record must come
    if (bytes[off] !== CONTENT_HANDSHAKE) return NOT_TLS;
    if (left >= 2 && badVersion(bytes[off + 1]!, left >= 3 ? bytes[off + 2]! : undefined)) {
      return NOT_TLS;
    }
    if (left < RECORD_HEADER) {
      // An impossible length is known from its high byte alone.
      if (left >= 4 && bytes[off + 3]! > MAX_RECORD >> 8) return NOT_TLS;
      break; // the records before still get checked below
    }
    const len = (bytes[off + 3]! << 8) | bytes[off + 4]!;
    // RFC 8446 5.1: zero-length handshake fragments MUST NOT be sent.
    if (len === 0 || len > MAX_RECORD) return NOT_TLS;
    const start = off + RECORD_HEADER;
    const end = Math.min(start + len, bytes.length);
    parts.push(bytes.subarray(start, end));
    have += end - start;
    declared += len;
    off = start + len;
    if (helloTotal < 0 && have >= 4) {
      const header = parts.length === 1 ? parts[0]! : join(parts, 4);
      if (header[0] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
      const bodyLen = (header[1]! << 16) | (header[2]! << 8) | header[3]!;
      if (bodyLen < MIN_HELLO_BODY) return NOT_TLS;
      helloTotal = 4 + bodyLen;
    } else if (helloTotal < 0 && have > 0 && parts[0]![0] !== HANDSHAKE_CLIENT_HELLO) {
      return NOT_TLS;
    }
    if (end < off) break; // this record has not fully arrived
  }
  // 2. The ClientHello itself, as far as it arrived: an inconsistency is reported as soon as
  // it shows, and the answer once the whole message is here.
  if (helloTotal < 0) {
    // The handshake header itself is incomplete: the rest of this record, or another one.
    return needMore(have < declared ? off : off + RECORD_HEADER + (4 - declared));
  }
  const hs = parts.length === 1 ? parts[0]! : join(parts, Math.min(have, helloTotal));
  const r = parseHelloBody(hs.subarray(0, Math.min(hs.length, helloTotal)), helloTotal);
  if (r !== undefined) return r;
  // Where the last handshake byte will sit: in the current record, or in records to come.
  return needMore(
    declared >= helloTotal
      ? off - (declared - helloTotal)
      : off + RECORD_HEADER + (helloTotal - declared),
  );
}

/** The first `n` bytes of `parts` in one array. */
function join(parts: readonly Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    if (at >= n) break;
    const take = Math.min(p.length, n - at);
    out.set(take === p.length ? p : p.subarray(0, take), at);
    at += take;
  }
  return out;
}

/**
 * The ClientHello handshake message (`hs`, starting with its 4-byte header, possibly cut short;
 * `total` is its declared size). Returns the answer, or undefined when more bytes are needed.
 */
function parseHelloBody(hs: Uint8Array, total: number): ClientHelloResult | undefined {
  let p = 4;
  // `fits(n)`: n more bytes lie within the declared message (else it lies); `got(n)`: they
  // have arrived. Each got() follows a fits(), so a complete message always gets an answer.
  const fits = (n: number) => p + n <= total;
  const got = (n: number) => p + n <= hs.length;
  const u16 = (at: number) => (hs[at]! << 8) | hs[at + 1]!;

  // legacy_version
  if (!got(2)) return undefined;
  if (badVersion(hs[p]!, hs[p + 1]!)) return NOT_TLS;
  p += 2 + 32; // random
  // session_id<0..32>
  if (!fits(1)) return NOT_TLS;
  if (!got(1)) return undefined;
  const sid = hs[p]!;
  if (sid > 32 || !fits(1 + sid)) return NOT_TLS;
  p += 1 + sid;
  // cipher_suites<2..2^16-2>
  if (!fits(2)) return NOT_TLS;
  if (!got(2)) return undefined;
  const cs = u16(p);
  if (cs < 2 || cs % 2 !== 0 || !fits(2 + cs)) return NOT_TLS;
  p += 2 + cs;
  // legacy_compression_methods<1..2^8-1>
  if (!fits(1)) return NOT_TLS;
  if (!got(1)) return undefined;
  const cm = hs[p]!;
  if (cm < 1 || !fits(1 + cm)) return NOT_TLS;
  p += 1 + cm;
  // Extensions are optional before TLS 1.3: a message that ends here has no server name.
  if (p === total) return NO_SNI;
  if (!fits(2)) return NOT_TLS;
  if (!got(2)) return undefined;
  const extLen = u16(p);
  p += 2;
  if (p + extLen !== total) return NOT_TLS;
  let name: string | undefined;
  let seenSni = false;
  while (p < total) {
    if (!fits(4)) return NOT_TLS;
    if (!got(4)) return undefined;
    const type = u16(p);
    const len = u16(p + 2);
    p += 4;
    if (!fits(len)) return NOT_TLS;
    if (type === EXT_SERVER_NAME) {
      // RFC 8446 4.2: no extension type appears twice.
      if (seenSni) return NOT_TLS;
      seenSni = true;
      if (!got(len)) return undefined;
      const r = serverName(hs.subarray(p, p + len));
      if (r === null) return NOT_TLS;
      name = r;
    }
    p += len;
  }
  // The loop ran to `total` only over arrived bytes when the last extension was checked with
  // got(); otherwise the tail is still missing.
  if (hs.length < total) return undefined;
  return name === undefined ? NO_SNI : { kind: "name", name };
}

/**
 * The host_name of a server_name extension's data (RFC 6066 3): undefined when it holds none,
 * null when it is malformed.
 */
function serverName(d: Uint8Array): string | undefined | null {
  if (d.length === 0) return undefined; // empty data: as in a server's reply, no name
  if (d.length < 2) return null;
  const listLen = (d[0]! << 8) | d[1]!;
  if (listLen + 2 !== d.length || listLen === 0) return null;
  let p = 2;
  let host: string | undefined;
  while (p < d.length) {
    if (p + 3 > d.length) return null;
    const type = d[p]!;
    const len = (d[p + 1]! << 8) | d[p + 2]!;
    p += 3;
    if (p + len > d.length) return null;
    if (type === NAME_TYPE_HOST) {
      // RFC 6066: at most one name of each type.
      if (host !== undefined) return null;
      const h = hostName(d.subarray(p, p + len));
      if (h === null) return null;
      host = h;
    }
    p += len;
  }
  return host;
}

/**
 * A DNS host name in ASCII (letters, digits, '-', '_', dots between non-empty labels, one
 * optional trailing dot), lower-cased and without the trailing dot; null otherwise.
 */
function hostName(b: Uint8Array): string | null {
  let n = b.length;
  if (n > 0 && b[n - 1] === 0x2e) n--; // trailing dot
  if (n === 0 || n > MAX_HOST_NAME - 2) return null;
  let out = "";
  let label = 0;
  for (let i = 0; i < n; i++) {
    let c = b[i]!;
    if (c === 0x2e) {
      if (label === 0) return null;
      label = 0;
    } else {
      if (c >= 0x41 && c <= 0x5a) c += 0x20; // A-Z
      else if (
        !((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f)
      ) return null;
      if (++label > 63) return null;
    }
    out += String.fromCharCode(c);
  }
  return label === 0 ? null : out;
}
