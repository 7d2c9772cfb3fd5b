// host:port parsing and formatting, the one implementation: IPv6 hosts are always written in
// brackets ("[::1]:80"); listen addresses (admin, peek) allow port 0, backends do not.
import { type ErrorCode, SluiceError } from "../errors.ts";
import { isIP } from "node:net";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

// RFC 1123 host names, plus "_" which service discovery names use in practice.
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** True for an IPv4/IPv6 literal or a syntactically valid host name. */
export function isValidHost(host: string): boolean {
  return isIP(host) !== 0 || HOSTNAME.test(host);
}

/** Parses a port (1..65535, or 0..65535 with `allowZero`) from text; undefined when it is not. */
export function parsePort(text: string, allowZero = false): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= (allowZero ? 0 : 1) && n <= 65535 ? n : undefined;
}

export interface HostPortOptions {
  /** Port 0 (any free port) is allowed: listen addresses. @default false */
  readonly allowPortZero?: boolean;
}

/**
 * Parses "host:port", "1.2.3.4:80" or "[2001:db8::1]:80" (the host comes back without
 * brackets); on failure, the reason (what was expected) as a string. Never throws.
 */
export function checkHostPort(s: string, o: HostPortOptions = {}): HostPort | string {
  if (typeof s !== "string" || s.trim() === "") return "empty (expected host:port)";
  let host: string;
  let portText: string;
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0) return 'missing "]" after an IPv6 address';
    host = s.slice(1, end);
    if (s[end + 1] !== ":") return 'expected ":PORT" after "]"';
    portText = s.slice(end + 2);
    if (isIP(host) !== 6) return `"${host}" is not an IPv6 address`;
  } else {
    const colon = s.lastIndexOf(":");
    if (colon < 0) return "missing port (expected host:port)";
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(":")) return 'an IPv6 address needs brackets: "[2001:db8::1]:80"';
    if (host === "") return "missing host (expected host:port)";
    if (!isValidHost(host)) return `"${host}" is not a valid IP address or host name`;
  }
  const zero = o.allowPortZero === true;
  const port = parsePort(portText, zero);
  if (port === undefined) {
    return `port "${portText}" is not a number from ${zero ? 0 : 1} to 65535`;
  }
  return { host, port };
}

/**
 * Parses like checkHostPort; throws SluiceError(`code`, "Cannot parse address ...: reason").
 * @param code the error code to throw with. @default "ROUTING"
 */
export function parseHostPort(
  s: string,
  o: HostPortOptions & { readonly code?: ErrorCode } = {},
): HostPort {
  const r = checkHostPort(s, o);
  if (typeof r === "string") {
    throw new SluiceError(o.code ?? "ROUTING", `Cannot parse address "${String(s)}": ${r}`);
  }
  return r;
}

/** "[::1]" for an IPv6 literal, the host unchanged otherwise (URLs, Host headers). */
export function bracketHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** "1.2.3.4:80", "[::1]:80", "db.internal:5432" */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped ::ffff:127.x) and "localhost". */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith("127.");
}
