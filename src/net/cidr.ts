// CIDR matching for trusted_proxies: IPv4 and IPv6 prefixes, compared as 16-byte IPv6 with
// IPv4 mapped into ::ffff:0:0/96, so "10.0.0.0/8" also matches a client seen as ::ffff:10.1.2.3
// and "::ffff:0:0/96" matches every IPv4 client.
import { SluiceError } from "../errors.ts";
import { parseIPv4, parseIPv6 } from "./ip_literal.ts";

interface Prefix {
  readonly bytes: Uint8Array;
  /** In bits of the 16-byte form */
  readonly bits: number;
}

/** 16 bytes of an IPv4 or IPv6 literal (brackets and a %zone allowed), or null. */
function ipBytes(ip: string): { bytes: Uint8Array; family: 4 | 6 } | null {
  let s = ip.trim();
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  const v4 = parseIPv4(s);
  if (v4) {
    const out = new Uint8Array(16);
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(v4, 12);
    return { bytes: out, family: 4 };
  }
  const v6 = s.includes(":") ? parseIPv6(s) : null;
  return v6 ? { bytes: v6, family: 6 } : null;
}

/**
 * Validates "10.0.0.0/8", "::1/128" or a bare address (a single host), the one CIDR rule:
 * the normalised text ("10.0.0.0/8", "10.0.0.1/32") and its prefix, or the reason it is invalid.
 */
export function checkCidr(text: string): { cidr: string; prefix: Prefix } | string {
  const [ip = "", len, ...rest] = text.trim().split("/");
  const a = rest.length === 0 ? ipBytes(ip) : null;
  if (!a) return `expected a CIDR such as "10.0.0.0/8" or "::1/128", got ${JSON.stringify(text)}`;
  const max = a.family === 4 ? 32 : 128;
  if (len !== undefined && (!/^\d{1,3}$/.test(len) || Number(len) > max)) {
    return `expected a prefix length from 0 to ${max} in ${JSON.stringify(text)}`;
  }
  const n = len === undefined ? max : Number(len);
  return {
    cidr: `${ip}/${n}`,
    prefix: { bytes: a.bytes, bits: a.family === 4 ? 96 + n : n },
  };
}

/** Parses like checkCidr; throws SluiceError("ROUTING", "trusted_proxies: reason"). */
function parseCidrPrefix(text: string): Prefix {
  const r = checkCidr(text);
  if (typeof r === "string") throw new SluiceError("ROUTING", `trusted_proxies: ${r}`);
  return r.prefix;
}

function matches(p: Prefix, b: Uint8Array): boolean {
  const whole = p.bits >> 3;
  for (let i = 0; i < whole; i++) if (p.bytes[i] !== b[i]) return false;
  const rem = p.bits & 7;
  if (rem === 0) return true;
  // Host bits set in the CIDR ("10.0.0.1/8") are ignored, as most tools do.
  const mask = (0xff << (8 - rem)) & 0xff;
  return (p.bytes[whole]! & mask) === (b[whole]! & mask);
}

/**
 * A predicate: is `ip` inside any of `cidrs`? Throws a ROUTING SluiceError naming the first
 * invalid CIDR. An empty list matches nothing; a non-IP string never matches.
 */
export function createCidrMatcher(cidrs: readonly string[]): (ip: string) => boolean {
  const prefixes = cidrs.map(parseCidrPrefix);
  return (ip) => {
    const a = ipBytes(ip);
    if (!a) return false;
    for (const p of prefixes) if (matches(p, a.bytes)) return true;
    return false;
  };
}
