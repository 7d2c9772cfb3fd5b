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
// or address and leaves its checks identical, a node's address change) is picked up by the
// periodic full read the blocking loop asks for (`full`), or by the service's next check change.
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

/** A service's own sums and the nodes its checks live on (nearly always one). */
interface Service extends Sums {
  readonly node: string;
  otherNodes: Set<string> | undefined;
}

const empty = (): Sums => ({ count: 0, indexSum: 0, indexMax: 0, hash: 0 });

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
 * a chance of 2^-53; the change would then wait for the next full read.
 */
function fingerprintOf(own: Sums, onNodes: Sums): number {
  const a = mix(absorbSums(absorbSums(0x9e3779b9, own), onNodes) >>> 0);
  const b = mix(absorbSums(absorbSums(0x7f4a7c15, own), onNodes) >>> 0);
  return a * 0x200000 + (b >>> 11);
}

/**
 * Fingerprints by service name, from the summaries of a `/v1/health/state/any` answer's checks,
 * in one pass and without sorting: a round at 5,000 services spends its time on the change, not
 * here. Each check adds to its service's (or, for a node check, its node's) sums; a service's
 * fingerprint is its sums plus those of the nodes its checks live on.
 */
export function consulFingerprints(checks: readonly CheckSummary[]): Map<string, number> {
  const perService = new Map<string, Service>();
  const perNode = new Map<string, Sums>();
  for (const c of checks) {
    if (c.service === "") {
      let n = perNode.get(c.node);
      if (!n) perNode.set(c.node, n = empty());
      add(n, c.index, c.hash);
      continue;
    }
    let s = perService.get(c.service);
    if (!s) {
      s = { count: 0, indexSum: 0, indexMax: 0, hash: 0, node: c.node, otherNodes: undefined };
      perService.set(c.service, s);
    }
    add(s, c.index, c.hash);
    if (c.node !== s.node) (s.otherNodes ??= new Set()).add(c.node);
  }
  const out = new Map<string, number>();
  for (const [name, s] of perService) {
    const onNodes = empty();
    for (const n of s.otherNodes ? [s.node, ...s.otherNodes] : [s.node]) {
      const ns = perNode.get(n);
      if (!ns) continue;
      onNodes.count += ns.count;
      onNodes.indexSum += ns.indexSum;
      onNodes.indexMax = Math.max(onNodes.indexMax, ns.indexMax);
      onNodes.hash = (onNodes.hash + ns.hash) >>> 0;
    }
    out.set(name, fingerprintOf(s, onNodes));
  }
  return out;
}

interface Known {
  readonly fingerprint: number;
  readonly instances: TaggedInstance[];
}

export interface ChangeTracker {
  /** The names to read this round: new or changed fingerprints (all of them when full). */
  changed(fingerprints: ReadonlyMap<string, number>, full: boolean): string[];
  /** Records a successful read of `name`, made after the list that gave `fingerprint`. */
  read(name: string, fingerprint: number, instances: TaggedInstance[]): void;
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
      for (const name of [...known.keys()]) if (!fingerprints.has(name)) known.delete(name);
      const out: string[] = [];
      for (const [name, fp] of fingerprints) {
        if (known.get(name)?.fingerprint !== fp) out.push(name);
      }
      return out.sort();
    },
    read(name, fingerprint, instances) {
      known.set(name, { fingerprint, instances });
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
