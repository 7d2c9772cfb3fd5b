// The SOCKS5 wire codec (RFC 1928 CONNECT, RFC 1929 username/password): pure bytes in, data out.
// Parsers are incremental: "incomplete" until the whole frame is there; garbage throws Socks5Error.
import { Socks5Error } from "./errors.ts";
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "../net/ip_literal.ts";

export const SOCKS_VERSION = 0x05;
/** RFC 1929 sub-negotiation version */
const USERPASS_VERSION = 0x01;

export const METHOD_NO_AUTH = 0x00;
export const METHOD_USERPASS = 0x02;
export const METHOD_NO_ACCEPTABLE = 0xff;

const CMD_CONNECT = 0x01;

export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;
export type Atyp = typeof ATYP_IPV4 | typeof ATYP_DOMAIN | typeof ATYP_IPV6;

export const REPLY_SUCCEEDED = 0x00;

/** RFC 1928 §6 reply codes, as sentences for error messages. */
const REPLY_MESSAGES: Readonly<Record<number, string>> = {
  0x00: "succeeded",
  0x01: "general SOCKS server failure",
  0x02: "connection not allowed by ruleset",
  0x03: "network unreachable",
  0x04: "host unreachable",
  0x05: "connection refused",
  0x06: "TTL expired",
  0x07: "command not supported",
  0x08: "address type not supported",
};

/** A clear message for any reply code, e.g. "connection refused (reply 0x05)". */
export function replyMessage(code: number): string {
  const text = REPLY_MESSAGES[code] ?? "unassigned reply code";
  return `${text} (reply ${hex(code)})`;
}

/** An address as it travels in a request or reply. */
export interface Socks5Address {
  readonly atyp: Atyp;
  /** Dotted quad, RFC 5952 IPv6 text (no brackets), or the domain name */
  readonly host: string;
  readonly port: number;
}

/** A CONNECT request (from the client) or a reply (from the proxy): the same frame shape. */
export interface Socks5Request extends Socks5Address {
  readonly command: number;
}
export interface Socks5Reply extends Socks5Address {
  readonly reply: number;
}

export type ParseResult<T> =
  | { readonly status: "incomplete" }
  | ({ readonly status: "ok"; readonly consumed: number } & T);

const INCOMPLETE = { status: "incomplete" } as const;
const MAX_FIELD = 255;
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, "0")}`;
}

function garbage(what: string): Socks5Error {
  return new Socks5Error("garbage", what);
}

// ---------------------------------------------------------------- greeting and method selection

/** Client greeting: VER, NMETHODS, METHODS. */
export function encodeGreeting(methods: readonly number[]): Uint8Array {
  if (methods.length < 1 || methods.length > MAX_FIELD) {
    throw new RangeError(
      `Cannot encode SOCKS5 greeting: ${methods.length} methods (1-255 allowed)`,
    );
  }
  return Uint8Array.from([SOCKS_VERSION, methods.length, ...methods]);
}

/** Server side of the greeting (used by tests' fake proxies and the property tests). */
export function parseGreeting(buf: Uint8Array): ParseResult<{ methods: number[] }> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== SOCKS_VERSION) {
    throw garbage(`greeting version ${hex(buf[0] as number)}, expected 0x05`);
  }
  if (buf.length < 2) return INCOMPLETE;
  const n = buf[1] as number;
  if (n === 0) throw garbage("greeting offers no method");
  if (buf.length < 2 + n) return INCOMPLETE;
  return { status: "ok", consumed: 2 + n, methods: [...buf.subarray(2, 2 + n)] };
}

/** Server's method selection: VER, METHOD. */
export function encodeMethodSelection(method: number): Uint8Array {
  return Uint8Array.from([SOCKS_VERSION, method]);
}

/** Parses VER, METHOD; checking that METHOD was offered is the client's job. */
export function parseMethodSelection(buf: Uint8Array): ParseResult<{ method: number }> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== SOCKS_VERSION) {
    throw garbage(`method selection version ${hex(buf[0] as number)}, expected 0x05`);
  }
  if (buf.length < 2) return INCOMPLETE;
  return { status: "ok", consumed: 2, method: buf[1] as number };
}

// ---------------------------------------------------------------- RFC 1929 username/password

/** VER=1, ULEN, UNAME, PLEN, PASSWD (UTF-8; each at most 255 bytes). */
export function encodeUserPass(username: string, password: string): Uint8Array {
  const u = utf8.encode(username);
  const p = utf8.encode(password);
  // The message never contains the values: the password must not reach a log.
  if (u.length > MAX_FIELD) {
    throw new RangeError(`Cannot encode SOCKS5 username: ${u.length} bytes (at most 255)`);
  }
  if (p.length > MAX_FIELD) {
    throw new RangeError(`Cannot encode SOCKS5 password: ${p.length} bytes (at most 255)`);
  }
  const out = new Uint8Array(3 + u.length + p.length);
  out[0] = USERPASS_VERSION;
  out[1] = u.length;
  out.set(u, 2);
  out[2 + u.length] = p.length;
  out.set(p, 3 + u.length);
  return out;
}

/** Server side of the sub-negotiation (tests' fake proxies, property tests). */
export function parseUserPass(
  buf: Uint8Array,
): ParseResult<{ username: string; password: string }> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== USERPASS_VERSION) {
    throw garbage(`username/password version ${hex(buf[0] as number)}, expected 0x01`);
  }
  if (buf.length < 2) return INCOMPLETE;
  const ulen = buf[1] as number;
  if (buf.length < 3 + ulen) return INCOMPLETE;
  const plen = buf[2 + ulen] as number;
  if (buf.length < 3 + ulen + plen) return INCOMPLETE;
  const dec = new TextDecoder();
  return {
    status: "ok",
    consumed: 3 + ulen + plen,
    username: dec.decode(buf.subarray(2, 2 + ulen)),
    password: dec.decode(buf.subarray(3 + ulen, 3 + ulen + plen)),
  };
}

export function encodeUserPassReply(status: number): Uint8Array {
  return Uint8Array.from([USERPASS_VERSION, status]);
}

/** VER, STATUS; STATUS 0 is success. */
export function parseUserPassReply(buf: Uint8Array): ParseResult<{ ok: boolean; code: number }> {
  if (buf.length < 1) return INCOMPLETE;
  // Some servers answer the sub-negotiation with version 5 instead of 1; both mean the same.
  if (buf[0] !== USERPASS_VERSION && buf[0] !== SOCKS_VERSION) {
    throw garbage(`username/password reply version ${hex(buf[0] as number)}, expected 0x01`);
  }
  if (buf.length < 2) return INCOMPLETE;
  const code = buf[1] as number;
  return { status: "ok", consumed: 2, ok: code === 0, code };
}

// ---------------------------------------------------------------- CONNECT request and reply

/** The ATYP a host would travel as: an IP literal as itself, anything else as a domain name. */
export function atypOf(host: string): Atyp {
  if (parseIPv4(host)) return ATYP_IPV4;
  if (parseIPv6(host)) return ATYP_IPV6;
  return ATYP_DOMAIN;
}

function encodeFrame(second: number, a: { host: string; port: number; atyp?: Atyp }): Uint8Array {
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 0xffff) {
    throw new RangeError(`Cannot encode SOCKS5 address: port ${a.port} is not 0-65535`);
  }
  const atyp = a.atyp ?? atypOf(a.host);
  let addr: Uint8Array;
  if (atyp === ATYP_IPV4) {
    const b = parseIPv4(a.host);
    if (!b) {
      throw new RangeError(`Cannot encode SOCKS5 address: "${a.host}" is not an IPv4 address`);
    }
    addr = b;
  } else if (atyp === ATYP_IPV6) {
    const b = parseIPv6(a.host);
    if (!b) {
      throw new RangeError(`Cannot encode SOCKS5 address: "${a.host}" is not an IPv6 address`);
    }
    addr = b;
  } else {
    const name = utf8.encode(a.host);
    if (name.length < 1 || name.length > MAX_FIELD) {
      throw new RangeError(
        `Cannot encode SOCKS5 address: domain name of ${name.length} bytes (1-255 allowed)`,
      );
    }
    addr = new Uint8Array(1 + name.length);
    addr[0] = name.length;
    addr.set(name, 1);
  }
  const out = new Uint8Array(4 + addr.length + 2);
  out[0] = SOCKS_VERSION;
  out[1] = second;
  out[2] = 0x00;
  out[3] = atyp;
  out.set(addr, 4);
  out[4 + addr.length] = a.port >> 8;
  out[5 + addr.length] = a.port & 0xff;
  return out;
}

function parseFrame(
  buf: Uint8Array,
  what: string,
): ParseResult<{ second: number } & Socks5Address> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== SOCKS_VERSION) {
    throw garbage(`${what} version ${hex(buf[0] as number)}, expected 0x05`);
  }
  if (buf.length < 3) return INCOMPLETE;
  if (buf[2] !== 0x00) {
    throw garbage(`${what} reserved byte ${hex(buf[2] as number)}, expected 0x00`);
  }
  if (buf.length < 4) return INCOMPLETE;
  const atyp = buf[3] as number;
  let host: string;
  let end: number;
  if (atyp === ATYP_IPV4) {
    end = 4 + 4;
    if (buf.length < end + 2) return INCOMPLETE;
    host = formatIPv4(buf.subarray(4, end));
  } else if (atyp === ATYP_IPV6) {
    end = 4 + 16;
    if (buf.length < end + 2) return INCOMPLETE;
    host = formatIPv6(buf.subarray(4, end));
  } else if (atyp === ATYP_DOMAIN) {
    if (buf.length < 5) return INCOMPLETE;
    end = 5 + (buf[4] as number);
    if (buf.length < end + 2) return INCOMPLETE;
    try {
      host = utf8Strict.decode(buf.subarray(5, end));
    } catch {
      throw garbage(`${what} domain name is not UTF-8`);
    }
  } else {
    throw garbage(`${what} address type ${hex(atyp)}, expected 0x01, 0x03 or 0x04`);
  }
  const port = ((buf[end] as number) << 8) | (buf[end + 1] as number);
  return { status: "ok", consumed: end + 2, second: buf[1] as number, atyp, host, port };
}

/** VER, CMD=CONNECT, RSV, ATYP, DST.ADDR, DST.PORT. ATYP defaults to what the host looks like. */
export function encodeConnect(a: { host: string; port: number; atyp?: Atyp }): Uint8Array {
  return encodeFrame(CMD_CONNECT, a);
}

/** Server side of the request (tests' fake proxies, property tests). */
export function parseRequest(buf: Uint8Array): ParseResult<{ request: Socks5Request }> {
  const r = parseFrame(buf, "request");
  if (r.status === "incomplete") return r;
  const { second, atyp, host, port, consumed } = r;
  return { status: "ok", consumed, request: { command: second, atyp, host, port } };
}

export function encodeReply(
  r: { reply: number; host: string; port: number; atyp?: Atyp },
): Uint8Array {
  return encodeFrame(r.reply, r);
}

/**
 * VER, REP, RSV, ATYP, BND.ADDR, BND.PORT. `consumed` may be less than `buf.length`: the bytes
 * after it are the backend's, already arrived in the same segment.
 */
export function parseReply(buf: Uint8Array): ParseResult<{ reply: Socks5Reply }> {
  const r = parseFrame(buf, "reply");
  if (r.status === "incomplete") return r;
  const { second, atyp, host, port, consumed } = r;
  return { status: "ok", consumed, reply: { reply: second, atyp, host, port } };
}
