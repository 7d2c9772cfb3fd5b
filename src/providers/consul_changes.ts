// Which services a Consul list answer says have changed, so that a round of the blocking loop
// re-reads only those (`/v1/health/service/<name>`) instead of every listed service.
//
// The list is `/v1/health/state/any` filtered to the tagged service checks and every node check.
// Each element is one check with its `Status`, `ModifyIndex` and denormalised `ServiceTags`
// (protocol reference 2.1). A service's fingerprint is the sorted set of its checks (node,
// check ID, status, ModifyIndex, tags) plus the node checks of the nodes those checks live on.
// What moves a fingerprint, and so triggers a re-read of that service alone:
// - a check changing status or being re-registered (its ModifyIndex moves), a check added in any
//   state (a maintenance check, a new check that starts critical) or removed, a tag change;
// - a node check (serfHealth) of a node hosting one of its instances changing;
// - the service appearing. A service that disappears from the list is dropped without a read.
// What the checks table does not show (a re-registration that changes only an instance's port
// or address and leaves its checks identical, a node's address change) is picked up by the
// periodic full read the blocking loop asks for (`full`), or by the service's next check change.
import { record, stringList } from "./source_common.ts";
import type { TaggedInstance } from "./tags.ts";

const SEP = "\u0000";
const str = (v: unknown): string => typeof v === "string" || typeof v === "number" ? String(v) : "";

/** Fingerprints by service name, from a `/v1/health/state/any` answer (an array: checked). */
export function consulFingerprints(body: readonly unknown[]): Map<string, string> {
  const perService = new Map<string, { checks: string[]; nodes: Set<string> }>();
  const perNode = new Map<string, string[]>();
  for (const item of body) {
    const c = record(item);
    if (!c) continue;
    const node = str(c.Node);
    const name = str(c.ServiceName);
    const tags = stringList(c.ServiceTags);
    const part = node + SEP + str(c.CheckID) + SEP + str(c.ServiceID) + SEP + str(c.Status) +
      SEP + str(c.ModifyIndex) + SEP + (tags.length > 1 ? tags.sort() : tags).join(SEP);
    if (name === "") {
      const parts = perNode.get(node);
      if (parts) parts.push(part);
      else perNode.set(node, [part]);
      continue;
    }
    const s = perService.get(name);
    if (s) {
      s.checks.push(part);
      s.nodes.add(node);
    } else perService.set(name, { checks: [part], nodes: new Set([node]) });
  }
  // One string per node, made once however many services live there.
  const nodeText = new Map<string, string>();
  for (const [n, parts] of perNode) nodeText.set(n, parts.sort().join("\n"));
  const out = new Map<string, string>();
  for (const [name, s] of perService) {
    const checks = s.checks.length > 1 ? s.checks.sort() : s.checks;
    const nodes = s.nodes.size > 1 ? [...s.nodes].sort() : [...s.nodes];
    out.set(name, checks.join("\n") + "\n\n" + nodes.map((n) => nodeText.get(n) ?? n).join("\n"));
  }
  return out;
}

interface Known {
  readonly fingerprint: string;
  readonly instances: TaggedInstance[];
}

export interface ChangeTracker {
  /** The names to read this round: new or changed fingerprints (all of them when full). */
  changed(fingerprints: ReadonlyMap<string, string>, full: boolean): string[];
  /** Records a successful read of `name`, made after the list that gave `fingerprint`. */
  read(name: string, fingerprint: string, instances: TaggedInstance[]): void;
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
