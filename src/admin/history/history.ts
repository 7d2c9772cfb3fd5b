// The in-memory history behind /api/v1/history and the dashboard's charts. Pure: `observe` is
// given the time and a snapshot of the counters the engine and providers already keep (one call
// per second, from the sampler); it turns counter differences into per-second values in
// fixed-size rings (./ring.ts). Nothing here reads a clock or starts a timer.
//
// Memory (typed arrays, at the default 900 one-second slots = 15 minutes):
//   listener: slot times u32 + new connections u32 + active u32 + failures u32 + refused u32 +
//             bytes up f64 + bytes down f64 = 36 B a second = 32,400 B (~32 KiB);
//   backend:  slot times u32 + connections u32 + active u32 + failures u32 + bytes up/down f64 +
//             state u8 = 33 B a second = 29,700 B (~29 KiB);
//   provider: slot times u32 + updates u32 + errors u32 = 10,800 B.
// At most `maxSeries` (2,000) listener, backend and provider series are kept; a series whose
// listener, backend or provider disappeared is dropped once its data aged out of the window.
// Events (listeners opened/closed, provider errors) are a ring of `maxEvents` (1,000).
import { bucketTimes, downsample, RingGroup } from "./ring.ts";
import {
  BACKEND_STATES,
  type BackendHistory,
  backendState,
  type History,
  type HistoryEvent,
  type HistoryOptions,
  type HistoryQuery,
  type HistoryResult,
  type ListenerHistory,
  type Snapshot,
} from "./types.ts";

export * from "./types.ts";

// Column layouts.
const L = { conn: 0, active: 1, failures: 2, refused: 3, up: 4, down: 5 } as const;
const L_KINDS = ["u32", "u32", "u32", "u32", "f64", "f64"] as const;
const B = { conn: 0, active: 1, failures: 2, up: 3, down: 4, state: 5 } as const;
const B_KINDS = ["u32", "u32", "u32", "f64", "f64", "u8"] as const;
const P_KINDS = ["u32", "u32"] as const;

interface Series {
  readonly ring: RingGroup;
  /** The cumulative counters seen last, for the next difference. */
  prev: number[];
  /** Present in the last snapshot. */
  live: boolean;
}

interface ListenerSeries extends Series {
  readonly backends: Map<string, Series>;
}

interface ProviderSeries extends Series {
  lastUpdate: string | undefined;
  lastError: string | undefined;
  state: string;
}

const delta = (cur: number, prev: number | undefined): number =>
  prev === undefined ? 0 : cur >= prev ? cur - prev : cur; // a counter reset: a new instance

export function createHistory(o: HistoryOptions = {}): History {
  const cap = o.seconds ?? 900;
  const maxSeries = o.maxSeries ?? 2000;
  const maxEvents = o.maxEvents ?? 1000;
  const listeners = new Map<string, ListenerSeries>();
  const providers = new Map<string, ProviderSeries>();
  const totals = new RingGroup(cap, L_KINDS);
  const events: HistoryEvent[] = [];
  let eventHead = 0; // next slot to overwrite once `events` is full
  let count = 0;
  let dropped = 0;
  let first = true;
  let lastSec = -1;
  let firstSec = 0;
  const lv = new Array<number>(6);
  const bv = new Array<number>(6);

  function event(e: HistoryEvent): void {
    if (events.length < maxEvents) events.push(e);
    else {
      events[eventHead] = e;
      eventHead = (eventHead + 1) % maxEvents;
    }
  }

  function room(): boolean {
    if (count < maxSeries) return true;
    dropped++;
    return false;
  }

  function observe(nowMs: number, snap: Snapshot): void {
    const sec = Math.floor(nowMs / 1000);
    // A second already written (or a clock that went back) adds nothing: the counters'
    // differences go into the next second instead.
    if (sec <= 0 || sec <= lastSec) return;
    const tot = [0, 0, 0, 0, 0, 0];
    for (const s of listeners.values()) s.live = false;
    for (const l of snap.listeners) {
      let s = listeners.get(l.key);
      if (!s) {
        if (!room()) continue;
        count++;
        s = { ring: new RingGroup(cap, L_KINDS), prev: [], live: true, backends: new Map() };
        listeners.set(l.key, s);
        event({ t: nowMs, kind: "listener_opened", listener: l.key });
      } else if (s.ring.last < lastSec) {
        // Seen again after it was closed.
        event({ t: nowMs, kind: "listener_opened", listener: l.key });
      }
      // A new series starts from zero unless this is the first snapshot (whose counters hold
      // everything since start, not one second).
      const zero = first ? undefined : 0;
      const c = l.counters;
      for (const b of s.backends.values()) b.live = false;
      let failures = 0;
      for (const b of l.backends) {
        let bs = s.backends.get(b.key);
        if (!bs) {
          if (!room()) continue;
          count++;
          bs = { ring: new RingGroup(cap, B_KINDS), prev: [], live: true };
          s.backends.set(b.key, bs);
        }
        bs.live = true;
        const bc = b.counters;
        const f = delta(bc.connectFailures, bs.prev[2] ?? zero);
        failures += f;
        bv[B.conn] = delta(bc.total, bs.prev[0] ?? zero);
        bv[B.active] = bc.active;
        bv[B.failures] = f;
        bv[B.up] = delta(bc.bytesUp, bs.prev[3] ?? zero);
        bv[B.down] = delta(bc.bytesDown, bs.prev[4] ?? zero);
        bv[B.state] = BACKEND_STATES.indexOf(backendState(b));
        bs.prev = [bc.total, bc.active, bc.connectFailures, bc.bytesUp, bc.bytesDown];
        bs.ring.write(sec, bv);
      }
      s.live = true;
      lv[L.conn] = delta(c.total, s.prev[0] ?? zero);
      lv[L.active] = c.active;
      lv[L.failures] = failures;
      lv[L.refused] = delta(c.refused, s.prev[2] ?? zero);
      lv[L.up] = delta(c.bytesUp, s.prev[3] ?? zero);
      lv[L.down] = delta(c.bytesDown, s.prev[4] ?? zero);
      s.prev = [c.total, c.active, c.refused, c.bytesUp, c.bytesDown];
      s.ring.write(sec, lv);
      for (let i = 0; i < 6; i++) tot[i]! += lv[i]!;
    }
    totals.write(sec, tot);

    for (const p of snap.providers) {
      let s = providers.get(p.name);
      if (!s) {
        if (!room()) continue;
        count++;
        s = {
          ring: new RingGroup(cap, P_KINDS),
          prev: [],
          live: true,
          lastUpdate: undefined,
          lastError: undefined,
          state: "waiting",
        };
        providers.set(p.name, s);
      }
      s.live = true;
      // Providers that count report updates/errors; for the others a change of lastUpdate or
      // lastError (or a switch to failing) counts one.
      // The first snapshot is a baseline here too.
      let up = !first && p.lastUpdate !== undefined && p.lastUpdate !== s.lastUpdate ? 1 : 0;
      const newError = !first && (
        (p.lastError !== undefined && p.lastError !== s.lastError) ||
        (p.state === "failing" && s.state !== "failing")
      );
      let err = newError ? 1 : 0;
      if (p.updates !== undefined) up = delta(p.updates, s.prev[0] ?? (first ? undefined : 0));
      if (p.errors !== undefined) err = delta(p.errors, s.prev[1] ?? (first ? undefined : 0));
      if (newError || (p.errors !== undefined && err > 0)) {
        event({
          t: nowMs,
          kind: "provider_error",
          provider: p.name,
          ...(p.lastError !== undefined ? { message: p.lastError } : {}),
        });
      }
      s.prev = [p.updates ?? 0, p.errors ?? 0];
      s.lastUpdate = p.lastUpdate;
      s.lastError = p.lastError;
      s.state = p.state;
      s.ring.write(sec, [up, err]);
    }
    const seen = new Set(snap.providers.map((p) => p.name));
    for (const [name, s] of providers) if (!seen.has(name)) s.live = false;

    // Closed listeners: an event when they go, the data until it ages out.
    for (const [key, s] of listeners) {
      if (!s.live && s.ring.last === lastSec && lastSec >= 0) {
        event({ t: nowMs, kind: "listener_closed", listener: key });
      }
    }
    if (first) firstSec = sec;
    lastSec = sec;
    first = false;
    prune(sec);
  }

  function prune(sec: number): void {
    const old = (s: Series) => !s.live && s.ring.last <= sec - cap;
    for (const [key, s] of listeners) {
      for (const [bk, b] of s.backends) {
        if (old(b) || (!s.live && b.ring.last <= sec - cap)) {
          s.backends.delete(bk);
          count--;
        }
      }
      if (old(s)) {
        count -= s.backends.size + 1;
        listeners.delete(key);
      }
    }
    for (const [name, p] of providers) {
      if (old(p)) {
        providers.delete(name);
        count--;
      }
    }
  }

  function query(q: HistoryQuery): HistoryResult {
    const step = Math.max(1, Math.floor(q.step));
    const until = Math.min(Math.floor(q.until), lastSec < 0 ? Math.floor(q.until) : lastSec);
    // Nothing before the first sample: the window grows to its full size after start.
    const since = Math.max(Math.floor(q.since), until - cap + 1, firstSec, 1);
    const col = (r: RingGroup, c: number) => downsample(r, c, since, until, step, q.agg);
    const worst = (vals: readonly number[]) => Math.max(...vals);
    const lh = (r: RingGroup) => ({
      connections: col(r, L.conn),
      active: col(r, L.active),
      connect_failures: col(r, L.failures),
      refused: col(r, L.refused),
      bytes_up: col(r, L.up),
      bytes_down: col(r, L.down),
    });
    const out: ListenerHistory[] = [];
    for (const [key, s] of [...listeners].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
      if (q.listeners && !q.listeners.has(key)) continue;
      if (s.ring.last < since) continue;
      const backends: BackendHistory[] = [];
      for (const [bk, b] of s.backends) {
        if (b.ring.last < since) continue;
        backends.push({
          key: bk,
          connections: col(b.ring, B.conn),
          active: col(b.ring, B.active),
          connect_failures: col(b.ring, B.failures),
          bytes_up: col(b.ring, B.up),
          bytes_down: col(b.ring, B.down),
          state: downsample(b.ring, B.state, since, until, step, worst).map((v) =>
            v === null ? null : BACKEND_STATES[v] ?? null
          ),
        });
      }
      out.push({ address: key, live: s.live, ...lh(s.ring), backends });
    }
    const evs = [...events.slice(eventHead), ...events.slice(0, eventHead)].filter((e) => {
      const s = Math.floor(e.t / 1000);
      return s >= since && s <= until &&
        (!q.listeners || e.listener === undefined || q.listeners.has(e.listener));
    });
    return {
      since,
      until,
      step,
      agg: q.agg,
      retention_seconds: cap,
      t: bucketTimes(since, until, step),
      totals: lh(totals),
      listeners: out,
      providers: [...providers].filter(([, p]) => p.ring.last >= since).map(([name, p]) => ({
        name,
        updates: col(p.ring, 0),
        errors: col(p.ring, 1),
      })),
      events: evs,
      series: { count, limit: maxSeries, dropped, bytes: bytes() },
    };
  }

  function bytes(): number {
    let n = totals.bytes;
    for (const s of listeners.values()) {
      n += s.ring.bytes;
      for (const b of s.backends.values()) n += b.ring.bytes;
    }
    for (const p of providers.values()) n += p.ring.bytes;
    return n;
  }

  return {
    observe,
    query,
    retentionSeconds: cap,
    get lastSecond() {
      return lastSec;
    },
    bytes,
    seriesCount: () => count,
  };
}
