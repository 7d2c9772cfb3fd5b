// hash: consistent hashing by rendezvous (highest random weight). Each backend scores
// -ln(u)/weight where u is a hash of (backend key, client key) in (0, 1); the order is the
// ranking, smallest first, so failover goes to the client's next-ranked backend. It depends only
// on the backend keys, weights and the client key: independent sluice instances with the same
// backends agree without sharing state, and removing one backend moves only its own clients.
// A backend ranks by its hashId when it has one (its group: see groups.ts), so the same client
// ranks the backends of one group alike on every listener of a multi-port service.
import type { HashKey } from "../routing/types.ts";
import type { Candidate, ClientInfo, Strategy } from "./types.ts";

const encoder = new TextEncoder();

/** MurmurHash3 x86_32: small, fast, and well mixed for short keys. */
export function murmur3(data: Uint8Array, seed: number): number {
  let h = seed >>> 0;
  const n = data.length;
  const blocks = n & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (n & 3) {
    case 3:
      k ^= data[blocks + 2]! << 16;
    // falls through
    case 2:
      k ^= data[blocks + 1]! << 8;
    // falls through
    case 1:
      k ^= data[blocks]!;
      k = Math.imul(k, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h ^= k;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const SEED_A = 0x9747b28c;
const SEED_B = 0x5bd1e995;

/**
 * The bytes hashed for a client: its IP, the first-bytes slice when there is one, or for
 * "client_ip+first_bytes" the IP, a NUL and the slice (tcpffee's IP_WITH_FIRST_MESSAGE_SLICE).
 */
export function clientKey(hashKey: HashKey, client: ClientInfo): Uint8Array {
  // An empty slice (the client sent nothing before the timeout) would send every such client
  // to one backend; the IP spreads them.
  const slice = client.keyBytes;
  if (hashKey.kind === "client_ip" || !slice || slice.length === 0) {
    return encoder.encode(client.ip);
  }
  if (hashKey.kind === "first_bytes") return slice;
  const ip = encoder.encode(client.ip);
  const out = new Uint8Array(ip.length + 1 + slice.length);
  out.set(ip);
  out.set(slice, ip.length + 1);
  return out;
}

/** Two 32-bit seeds per backend key, cached (backend keys are few and long-lived). */
function createSeedCache(): (key: string) => readonly [number, number] {
  const cache = new Map<string, readonly [number, number]>();
  return (key) => {
    let s = cache.get(key);
    if (!s) {
      if (cache.size >= 4096) cache.clear();
      const b = encoder.encode(key);
      s = [murmur3(b, SEED_A), murmur3(b, SEED_B)];
      cache.set(key, s);
    }
    return s;
  };
}

/** u in (0, 1) from 53 hash bits of (backend, client). */
function unit(seeds: readonly [number, number], client: Uint8Array): number {
  const hi = murmur3(client, seeds[0]) >>> 11; // 21 bits
  const lo = murmur3(client, seeds[1]); // 32 bits
  return (hi * 4294967296 + lo + 0.5) / 9007199254740992;
}

export function createHash(o: { hashKey: HashKey }): Strategy {
  const seedsOf = createSeedCache();
  return {
    name: "hash",
    order<C extends Candidate>(candidates: readonly C[], client: ClientInfo): C[] {
      const key = clientKey(o.hashKey, client);
      return candidates
        .map((c) => ({
          c,
          s: c.weight > 0 ? -Math.log(unit(seedsOf(c.hashId ?? c.key), key)) / c.weight : Infinity,
        }))
        // Ties (weight 0, or a hash collision) by key: never by the order candidates came in.
        .sort((a, b) =>
          a.s !== b.s ? (a.s < b.s ? -1 : 1) : a.c.key < b.c.key ? -1 : a.c.key > b.c.key ? 1 : 0
        )
        .map((x) => x.c);
    },
  };
}
