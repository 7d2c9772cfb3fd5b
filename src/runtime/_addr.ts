// Address normalisation shared by both adapters: bracket-free hosts, IPv4-mapped IPv6 shown
// as plain IPv4, and the family derived from the text.
import type { SockAddr } from "./types.ts";

/** Strips `[...]` around an IPv6 literal: Bun rejects `"[::]"`, Deno accepts both. */
export function bareHost(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** `::ffff:1.2.3.4` -> `1.2.3.4`; other hosts unchanged (brackets removed). */
export function normaliseHost(host: string): string {
  const h = bareHost(host);
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(h);
  return m?.[1] ?? h;
}

export function sockAddr(host: string, port: number): SockAddr {
  const h = normaliseHost(host);
  return { host: h, port, family: h.includes(":") ? 6 : 4 };
}
