// The stick table (tcpffee's): a client key's first pick is remembered until the key has been
// idle for its expiration, so a backend that joins the pool does not take existing clients.
// Entries name a backend's group (hashId), so a client stuck on a host on one port of a
// multi-port service finds the same host on its other ports. Bounded: past `maxEntries` the
// least recently used entry goes. Pure: the clock is injected; I/O (the state file) is the
// caller's, through entries() and restore().

export interface StickEntry {
  /** "<service>\u0000<client key>" as the engine builds it */
  readonly key: string;
  /** The backend's hashId (its group) */
  readonly backend: string;
  /** Last use, ms on the table's clock */
  readonly usedMs: number;
  /** Idle time after which the entry is gone */
  readonly expirationMs: number;
}

export interface StickTable {
  /** The backend stuck to `key`, refreshing its use; undefined when none or expired. */
  get(key: string): string | undefined;
  /** Sticks `key` to `backend` (or refreshes it) from now. */
  set(key: string, backend: string, expirationMs: number): void;
  /** Marks `key` used now, when present (a connection that just ended). */
  touch(key: string): void;
  delete(key: string): boolean;
  /** Deletes every entry; returns how many there were. */
  clear(): number;
  /** Live entries, least recently used first (expired ones are dropped on the way). */
  entries(): StickEntry[];
  /** Takes entries saved earlier (expired ones and overflow skipped); returns how many. */
  restore(entries: readonly StickEntry[]): number;
  readonly size: number;
}

export interface StickTableOptions {
  /** ms clock. @default Date.now */
  readonly now?: () => number;
  /** @default 100000 */
  readonly maxEntries?: number;
}

interface Slot {
  backend: string;
  usedMs: number;
  expirationMs: number;
}

export function createStickTable(o: StickTableOptions = {}): StickTable {
  const now = o.now ?? Date.now;
  const max = Math.max(1, o.maxEntries ?? 100_000);
  // Map order is the LRU order: a use re-inserts at the end.
  const slots = new Map<string, Slot>();
  const expired = (s: Slot, t: number) => t - s.usedMs >= s.expirationMs;
  const put = (key: string, s: Slot) => {
    slots.delete(key);
    slots.set(key, s);
    while (slots.size > max) slots.delete(slots.keys().next().value as string);
  };
  return {
    get(key) {
      const s = slots.get(key);
      if (!s) return undefined;
      const t = now();
      if (expired(s, t)) {
        slots.delete(key);
        return undefined;
      }
      s.usedMs = t;
      put(key, s);
      return s.backend;
    },
    set(key, backend, expirationMs) {
      put(key, { backend, usedMs: now(), expirationMs });
    },
    touch(key) {
      const s = slots.get(key);
      if (s && !expired(s, now())) {
        s.usedMs = now();
        put(key, s);
      }
    },
    delete: (key) => slots.delete(key),
    clear() {
      const n = slots.size;
      slots.clear();
      return n;
    },
    entries() {
      const t = now();
      const out: StickEntry[] = [];
      for (const [key, s] of slots) {
        if (expired(s, t)) slots.delete(key);
        else out.push({ key, backend: s.backend, usedMs: s.usedMs, expirationMs: s.expirationMs });
      }
      return out;
    },
    restore(entries) {
      const t = now();
      let n = 0;
      for (const e of entries) {
        const s = { backend: e.backend, usedMs: e.usedMs, expirationMs: e.expirationMs };
        if (expired(s, t) || s.usedMs > t) continue;
        put(e.key, s);
        n++;
      }
      return n;
    },
    get size() {
      return slots.size;
    },
  };
}
