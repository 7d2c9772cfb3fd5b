// Which services a Consul list answer says have changed, so that a round of the blocking loop
// re-reads only those (`/v1/health/service/<name>`) instead of every listed service.
//
// The list is `/v1/health/state/any` filtered to the tagged service checks and every node check.
// Each element is one check with its `Status`, `ModifyIndex` and denormalised `ServiceTags`
// (protocol reference 2.1). A service's fingerprint sums over its checks (node, check ID,
// status, ModifyIndex, tags) and over the node checks of the nodes those checks live on.
// What moves a fingerprint, and so triggers a re-read of that service alone:
// - a check changing status or being re-registered (its ModifyIndex moves), a check added in any
//   state (a maintenance check, a new check that starts critical) or removed, a tag change;
// - a node check (serfHealth) of a node hosting one of its instances changing;
// - the service appearing. A service that disappears from the list is dropped without a read.
// What the checks table does not show (a re-registration that changes only an instance's port
// or address and leaves its checks identical, a node's address change) is picked up when the
// service's detail is read again for its age (consul.ts, in the background while the list
// waits), or by the service's next check change.
import { record } from "./source_common.ts";
import type { TaggedInstance } from "./tags.ts";

/** Order-independent sums over a set of checks; equal sums mean no check changed. */
interface Sums {
  count: number;
  /** Sum and largest of the checks' ModifyIndex (a Raft index: every check change moves it). */
  indexSum: number;
  indexMax: number;
  /** Sum of one hash per check over node, IDs, status and its tags as a set (mod 2^32). */
  hash: number;
}

/** FNV-1a, continued from `h` (strings are hashed one after the other without joining). */
function fnv(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return Math.imul(h ^ 0xff, 16777619); // a separator, so "ab"+"c" differs from "a"+"bc"
}

/** murmur3's finaliser: spreads a 32-bit hash before it is summed with others. */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const text = (v: unknown): string =>
  typeof v === "string" ? v : typeof v === "number" ? String(v) : "";

function add(into: Sums, index: number, hash: number): void {
  into.count++;
  into.indexSum += index;
  if (index > into.indexMax) into.indexMax = index;
  into.hash = (into.hash + hash) >>> 0;
}

/** What a list answer's check adds to its service's (or its node's) fingerprint. */
export interface CheckSummary {
  /** The service's name; "" for a node check. */
  readonly service: string;
  readonly node: string;
  readonly index: number;
  readonly hash: number;
}

/** A check's summary; `undefined` for an element that is not an object. */
export function summariseCheck(item: unknown): CheckSummary | undefined {
  const c = record(item);
  if (!c) return undefined;
  const node = text(c.Node);
  let tagHash = 0;
  if (Array.isArray(c.ServiceTags)) {
    for (const t of c.ServiceTags) if (typeof t === "string") tagHash += mix(fnv(0x811c9dc5, t));
  }
  let h = fnv(0x811c9dc5, node);
  h = fnv(h, text(c.CheckID));
  h = fnv(h, text(c.ServiceID));
  h = fnv(h, text(c.Status));
  return {
    service: typeof c.ServiceName === "string" ? c.ServiceName : "",
    node,
    index: typeof c.ModifyIndex === "number" ? c.ModifyIndex : 0,
    hash: mix((h + tagHash) >>> 0),
  };
}

/** Takes a whole number below 2^53 into a 32-bit hash lane (its low and high words). */
function absorb(h: number, v: number): number {
  h = Math.imul(h ^ (v >>> 0), 0xcc9e2d51);
  h = Math.imul(h ^ Math.floor(v / 0x100000000), 0x1b873593);
  return (h << 13) | (h >>> 19);
}

function absorbSums(h: number, s: Sums): number {
  return absorb(absorb(absorb(absorb(h, s.count), s.indexSum), s.indexMax), s.hash);
}

/**
 * A service's fingerprint: its sums and those of its nodes hashed into one number of 53 bits (two
 * 32-bit lanes, different seeds). A number, not a text of the sums: formatting eight numbers for
 * each of 5,000 services cost Bun 3-18 ms a round. Two different sums give the same number with
 * a chance of 2^-53; the change would then wait until the service's detail is read again for
 * its age.
 */
function fingerprintOf(own: Sums, onNodes: Sums): number {
  const a = mix(absorbSums(absorbSums(0x9e3779b9, own), onNodes) >>> 0);
  const b = mix(absorbSums(absorbSums(0x7f4a7c15, own), onNodes) >>> 0);
  return a * 0x200000 + (b >>> 11);
}

/** Sums kept between answers, with the answer they were last counted for. */
interface Counted extends Sums {
  seen: number;
}

/** A service's sums and the nodes its checks live on (nearly always one). */
interface Service extends Counted {
  node: string;
  otherNodes: Set<string> | undefined;
}

const ZERO: Sums = Object.freeze({ count: 0, indexSum: 0, indexMax: 0, hash: 0 });

function recount(s: Counted, answer: number): void {
  s.count = 0;
  s.indexSum = 0;
  s.indexMax = 0;
  s.hash = 0;
  s.seen = answer;
}

/** The node checks' sums over a service's nodes, when they are more than one. */
function onNodes(nodes: ReadonlyMap<string, Sums>, names: Iterable<string>): Sums {
  const into = { count: 0, indexSum: 0, indexMax: 0, hash: 0 };
  for (const n of names) {
    const ns = nodes.get(n);
    if (!ns) continue;
    into.count += ns.count;
    into.indexSum += ns.indexSum;
    into.indexMax = Math.max(into.indexMax, ns.indexMax);
    into.hash = (into.hash + ns.hash) >>> 0;
  }
  return into;
}

/**
 * Fingerprints by service name, from the summaries of one `/v1/health/state/any` answer's checks
 * after another, in one pass and without sorting: a round at 5,000 services spends its time on
 * the change, not here. Each check adds to its service's (or, for a node check, its node's) sums;
 * a service's fingerprint is its sums plus those of the nodes its checks live on. The sums and
 * the map returned are kept and recounted for each answer rather than made anew (in Bun's heap
 * of thousands of listeners, 10,000 short-lived objects a round cost more in collection than in
 * counting); the map is valid until the next call.
 */
export function createFingerprinter(): (
  checks: readonly CheckSummary[],
) => ReadonlyMap<string, number> {
  const services = new Map<string, Service>();
  const nodes = new Map<string, Counted>();
  const out = new Map<string, number>();
  let answer = 0;
  return (checks) => {
    answer++;
    for (const c of checks) {
      if (c.service === "") {
        let n = nodes.get(c.node);
        if (!n) nodes.set(c.node, n = { ...ZERO, seen: answer });
        else if (n.seen !== answer) recount(n, answer);
        add(n, c.index, c.hash);
        continue;
      }
      let s = services.get(c.service);
      if (!s) {
        s = { ...ZERO, seen: answer, node: c.node, otherNodes: undefined };
        services.set(c.service, s);
      } else if (s.seen !== answer) {
        recount(s, answer);
        s.node = c.node;
        s.otherNodes = undefined;
      }
      add(s, c.index, c.hash);
      if (c.node !== s.node) (s.otherNodes ??= new Set()).add(c.node);
    }
    for (const [name, n] of nodes) if (n.seen !== answer) nodes.delete(name);
    for (const [name, s] of services) {
      if (s.seen !== answer) {
        services.delete(name);
        out.delete(name);
        continue;
      }
      const nodeSums = s.otherNodes
        ? onNodes(nodes, [s.node, ...s.otherNodes])
        : nodes.get(s.node) ?? ZERO;
      out.set(name, fingerprintOf(s, nodeSums));
    }
    return out;
  };
}

interface Known {
  readonly fingerprint: number;
  readonly instances: TaggedInstance[];
  /** The loop clock's time of the round that read it. */
  readonly readAt: number;
}

export interface ChangeTracker {
  /** The names to read this round: new or changed fingerprints (all of them when full). */
  changed(fingerprints: ReadonlyMap<string, number>, full: boolean): string[];
  /**
   * Records a successful read of `name`, made after the list that gave `fingerprint`, in the
   * round that started at `at`.
   */
  read(name: string, fingerprint: number, instances: TaggedInstance[], at: number): void;
  /** The fingerprint `name` was last read with (undefined: not read, or forgotten). */
  fingerprintOf(name: string): number | undefined;
  /** Instances equal to `name`'s last read are that read's own array (no change downstream). */
  sameAsRead(name: string, instances: TaggedInstance[]): TaggedInstance[];
  /** Services last read before `before`, the oldest first, at most `limit`. */
  readBefore(before: number, limit: number): string[];
  /** When the least recently read service was read (undefined: none is known). */
  oldestRead(): number | undefined;
  /** Forgets `name` (its read failed): it is read again next round. */
  forget(name: string): void;
  /** The instances of every listed service: fresh reads and unchanged ones. */
  instancesOf(names: Iterable<string>): Map<string, TaggedInstance[]>;
}

/** The memory of what each service looked like when its detail was last read. */
export function createChangeTracker(): ChangeTracker {
  let known = new Map<string, Known>();
  return {
    changed(fingerprints, full) {
      if (full) known = new Map();
      // Services gone from the list are forgotten; they come back as new.
      for (const name of known.keys()) if (!fingerprints.has(name)) known.delete(name);
      const out: string[] = [];
      for (const [name, fp] of fingerprints) {
        if (known.get(name)?.fingerprint !== fp) out.push(name);
      }
      return out.sort();
    },
    read(name, fingerprint, instances, at) {
      known.set(name, { fingerprint, instances, readAt: at });
    },
    fingerprintOf(name) {
      return known.get(name)?.fingerprint;
    },
    sameAsRead(name, instances) {
      const k = known.get(name);
      return k && JSON.stringify(k.instances) === JSON.stringify(instances)
        ? k.instances
        : instances;
    },
    oldestRead() {
      let oldest: number | undefined;
      for (const k of known.values()) {
        if (oldest === undefined || k.readAt < oldest) oldest = k.readAt;
      }
      return oldest;
    },
    readBefore(before, limit) {
      const old: [string, number][] = [];
      for (const [name, k] of known) if (k.readAt < before) old.push([name, k.readAt]);
      old.sort((a, b) => a[1] - b[1]);
      return old.slice(0, limit).map(([name]) => name);
    },
    forget(name) {
      known.delete(name);
    },
    instancesOf(names) {
      const out = new Map<string, TaggedInstance[]>();
      for (const n of names) {
        const k = known.get(n);
        if (k) out.set(n, k.instances);
      }
      return out;
    },
  };
}
