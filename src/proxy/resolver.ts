// DNS expansion of backend host names: every A and AAAA record, cached for the record's TTL
// (clamped to [minTtlMs, maxTtlMs]; noTtlMs when the source has none) and re-resolved in the background for watched names.
// A failed resolution keeps the last good addresses. IP literals never touch DNS.
//
// How the engine uses it: for a BackendPlan whose host is a name, call
// `watch(host, onChange)` and `await resolve(host)` for the first addresses (or read `cached`);
// the backend expands into one dial target per address. `onChange` fires whenever the set of
// addresses changes after a background refresh. Call the function `watch` returns when the
// backend leaves routing, and `close()` at shutdown.
import { isIP } from "node:net";
import dns from "node:dns/promises";
import { SluiceError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { abortable, deadline } from "../net/abortable.ts";

export interface LookupResult {
  /** IPv4 and IPv6 addresses, any order */
  readonly addresses: readonly string[];
  /** The smallest TTL of the records; absent when the source has none (/etc/hosts) */
  readonly ttlMs?: number;
}

export type LookupFn = (host: string) => Promise<LookupResult>;

export interface ResolverOptions {
  /** Floor of the cache time, also the retry delay after a failure. @default 5000 */
  minTtlMs?: number;
  /** Cap of the cache time. @default 300000 */
  maxTtlMs?: number;
  /**
   * Re-resolution interval of a name whose source gives no TTL (/etc/hosts, getaddrinfo),
   * clamped to [minTtlMs, maxTtlMs]. @default 30000
   */
  noTtlMs?: number;
  /** A lookup taking longer than this fails (and keeps the last addresses). @default 5000 */
  timeoutMs?: number;
  /** ms clock. @default Date.now */
  now?: () => number;
  /** @default dnsLookup (resolve4 + resolve6 with TTLs, falling back to getaddrinfo) */
  lookup?: LookupFn;
  log?: Logger;
}

export interface Resolver {
  /**
   * The addresses of `host`: from the cache while fresh, else looked up. IP literals come back
   * as they are. A failure with earlier addresses known returns those; with none, it rejects
   * with an ENOTFOUND SluiceError.
   */
  resolve(host: string): Promise<string[]>;
  /** The last good addresses, fresh or not; undefined when never resolved. */
  cached(host: string): string[] | undefined;
  /**
   * Keeps `host` resolved in the background (at TTL expiry) and calls `onChange` with the new
   * addresses whenever they differ from what this watcher last saw, starting from `cached(host)`.
   * Returns the function that stops watching.
   */
  watch(host: string, onChange: (addresses: string[]) => void): () => void;
  /** Stops every background refresh. */
  close(): void;
}

/** Sorted: IPv4 before IPv6, then by text; so equal sets compare equal. */
function canonical(addrs: readonly string[]): string[] {
  return [...new Set(addrs)].sort((a, b) => (isIP(a) - isIP(b)) || (a < b ? -1 : a > b ? 1 : 0));
}

function same(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return a !== undefined && b !== undefined && a.length === b.length &&
    a.every((x, i) => x === b[i]);
}

export function isIpLiteral(host: string): boolean {
  return isIP(host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host) !== 0;
}

/**
 * A and AAAA records with their TTLs (resolve4/resolve6 query DNS directly); when DNS has
 * neither (a name from /etc/hosts, such as localhost, on some runtimes), getaddrinfo.
 */
export async function dnsLookup(host: string): Promise<LookupResult> {
  // localhost (RFC 6761) is the system's: Deno's DNS client answers it itself with [::1] even
  // when /etc/hosts has only 127.0.0.1, Bun's does not. getaddrinfo gives both the same.
  if (/^localhost\.?$|\.localhost\.?$/i.test(host)) {
    const all = await dns.lookup(host, { all: true });
    return { addresses: all.map((a) => a.address) };
  }
  const [v4, v6] = await Promise.allSettled([
    dns.resolve4(host, { ttl: true }),
    dns.resolve6(host, { ttl: true }),
  ]);
  const records = [
    ...(v4.status === "fulfilled" ? v4.value : []),
    ...(v6.status === "fulfilled" ? v6.value : []),
  ];
  if (records.length > 0) {
    return {
      addresses: records.map((r) => r.address),
      ttlMs: Math.min(...records.map((r) => r.ttl)) * 1000,
    };
  }
  const all = await dns.lookup(host, { all: true });
  return { addresses: all.map((a) => a.address) };
}

interface Entry {
  addresses: string[] | undefined;
  /** When `addresses` go stale */
  expires: number;
  inflight: Promise<string[]> | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  watchers: Set<{ seen: string[] | undefined; onChange: (a: string[]) => void }>;
}

export function createResolver(o: ResolverOptions = {}): Resolver {
  const minTtl = Math.max(1, o.minTtlMs ?? 5000);
  const maxTtl = Math.max(minTtl, o.maxTtlMs ?? 300_000);
  const noTtl = Math.min(maxTtl, Math.max(minTtl, o.noTtlMs ?? 30_000));
  const timeoutMs = o.timeoutMs ?? 5000;
  const now = o.now ?? Date.now;
  const lookup = o.lookup ?? dnsLookup;
  const entries = new Map<string, Entry>();
  let closed = false;

  const entry = (host: string): Entry => {
    let e = entries.get(host);
    if (!e) {
      entries.set(
        host,
        e = {
          addresses: undefined,
          expires: 0,
          inflight: undefined,
          timer: undefined,
          watchers: new Set(),
        },
      );
    }
    return e;
  };

  const withTimeout = (p: Promise<LookupResult>): Promise<LookupResult> => {
    const dl = deadline(timeoutMs, {
      reason: () => new SluiceError("ETIMEDOUT", `no answer within ${timeoutMs}ms`),
    });
    return abortable(p, dl.signal).finally(() => dl.clear());
  };

  const notify = (e: Entry) => {
    const a = e.addresses;
    if (!a) return;
    for (const w of e.watchers) {
      if (same(w.seen, a)) continue;
      w.seen = a;
      try {
        w.onChange(a);
      } catch (err) {
        o.log?.error("resolver watcher failed", { error: err });
      }
    }
  };

  const schedule = (host: string, e: Entry) => {
    if (closed || e.watchers.size === 0 || e.timer !== undefined) return;
    const ms = Math.max(minTtl, e.expires - now());
    e.timer = setTimeout(() => {
      e.timer = undefined;
      if (closed || e.watchers.size === 0) return;
      void refresh(host, e).catch(() => {}).finally(() => schedule(host, e));
    }, ms);
  };

  const refresh = (host: string, e: Entry): Promise<string[]> => {
    if (e.inflight) return e.inflight;
    const p = (async () => {
      try {
        // Starts after this function has returned, so `inflight` is set before it can clear.
        const r = await withTimeout(Promise.resolve().then(() => lookup(host)));
        if (r.addresses.length === 0) throw new SluiceError("ENOTFOUND", "no A or AAAA record");
        const addrs = canonical(r.addresses);
        const ttl = r.ttlMs === undefined ? noTtl : Math.min(maxTtl, Math.max(minTtl, r.ttlMs));
        e.expires = now() + ttl;
        if (!same(e.addresses, addrs)) {
          if (e.addresses) {
            o.log?.info("backend addresses changed", { host, addresses: addrs.join(",") });
          }
          e.addresses = addrs;
        }
        notify(e);
        return addrs;
      } catch (err) {
        // Keep what we had; try again after the floor rather than hammering a failing server.
        e.expires = now() + minTtl;
        const msg = err instanceof Error ? err.message : String(err);
        if (e.addresses) {
          o.log?.warn("resolution failed, keeping the last addresses", { host, error: msg });
          return e.addresses;
        }
        throw new SluiceError("ENOTFOUND", `cannot resolve backend host "${host}": ${msg}`, {
          cause: err,
        });
      } finally {
        // Cleared before any awaiting caller resumes, so a resolve() right after sees no stale
        // lookup in flight.
        e.inflight = undefined;
      }
    })();
    e.inflight = p;
    return p;
  };

  return {
    resolve(host) {
      if (isIpLiteral(host)) return Promise.resolve([host.replace(/^\[(.*)\]$/, "$1")]);
      const e = entry(host);
      if (e.addresses && now() < e.expires) return Promise.resolve(e.addresses);
      return refresh(host, e);
    },
    cached(host) {
      if (isIpLiteral(host)) return [host.replace(/^\[(.*)\]$/, "$1")];
      return entries.get(host)?.addresses;
    },
    watch(host, onChange) {
      if (isIpLiteral(host)) return () => {};
      const e = entry(host);
      const w = { seen: e.addresses, onChange };
      e.watchers.add(w);
      if (!e.addresses) void refresh(host, e).catch(() => {}).finally(() => schedule(host, e));
      else schedule(host, e);
      return () => {
        e.watchers.delete(w);
        if (e.watchers.size === 0) {
          if (e.timer !== undefined) clearTimeout(e.timer);
          e.timer = undefined;
        }
      };
    },
    close() {
      closed = true;
      for (const e of entries.values()) {
        if (e.timer !== undefined) clearTimeout(e.timer);
        e.timer = undefined;
        e.watchers.clear();
      }
    },
  };
}
