// host:port parsing and formatting; IPv6 hosts are written in brackets ("[::1]:80").
import { SluiceError } from "../errors.ts";
import { isIP } from "node:net";

function bad(s: string, why: string): never {
  throw new SluiceError("ROUTING", `Cannot parse address "${s}": ${why}`);
}

// RFC 1123 host names, plus "_" which service discovery names use in practice.
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** True for an IPv4/IPv6 literal or a syntactically valid host name. */
export function isValidHost(host: string): boolean {
  return isIP(host) !== 0 || HOSTNAME.test(host);
}

/** Parses a port (1..65535) from text; undefined when it is not one. */
export function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/**
 * Parses "host:port", "1.2.3.4:80" or "[2001:db8::1]:80" (the host is returned without
 * brackets). Throws SluiceError("ROUTING") naming what was expected.
 */
export function parseHostPort(s: string): { host: string; port: number } {
  if (typeof s !== "string" || s.trim() === "") bad(String(s), "empty (expected host:port)");
  let host: string;
  let portText: string;
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0) bad(s, 'missing "]" after an IPv6 address');
    host = s.slice(1, end);
    if (s[end + 1] !== ":") bad(s, 'expected ":PORT" after "]"');
    portText = s.slice(end + 2);
    if (isIP(host) !== 6) bad(s, `"${host}" is not an IPv6 address`);
  } else {
    const colon = s.lastIndexOf(":");
    if (colon < 0) bad(s, "missing port (expected host:port)");
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(":")) bad(s, 'an IPv6 address needs brackets: "[2001:db8::1]:80"');
    if (host === "") bad(s, "missing host (expected host:port)");
    if (!isValidHost(host)) bad(s, `"${host}" is not a valid IP address or host name`);
  }
  const port = parsePort(portText);
  if (port === undefined) bad(s, `port "${portText}" is not a number from 1 to 65535`);
  return { host, port };
}

/** "1.2.3.4:80", "[::1]:80", "db.internal:5432" */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
