// Per-service memory of the raw routing objects a blocking provider built, so that a round that
// changed a few services among thousands does the work of those few: a service whose instance
// list is the same object as last round (the Consul source hands back the list it kept for an
// unchanged service) gives the same raw objects again, which the routing validator recognises
// without validating them again; and two snapshots are compared service by service, by identity
// first and by content only where the objects differ.
import type { ServiceSpec } from "../routing/types.ts";
import { buildRawServices, type TaggedInstance } from "./tags.ts";

interface Built {
  readonly instances: readonly TaggedInstance[];
  readonly raw: Record<string, unknown>[];
  readonly notes: readonly string[];
  /** Services of this list routed by a legacy tag (dill, dyntcp) rather than the first. */
  readonly legacy: readonly string[];
}

export interface RawServiceCache {
  /** buildRawServices over every service's instances, reusing what did not change. */
  build(
    instances: ReadonlyMap<string, readonly TaggedInstance[]>,
    notes: string[],
    legacy?: Set<string>,
  ): Record<string, unknown>[];
}

/** `tags`: the provider's tag first, then the legacy tags also routed. */
export function createRawServiceCache(tags: string | readonly string[]): RawServiceCache {
  // Kept and changed in place, as is the sorted order of its keys while the set of services
  // stays: a round then allocates only the answer and what changed. A new map and a sort of
  // every name each round were old garbage by the next one (Bun promotes what lives across a
  // collection; bench/README.md, "The Consul provider at 5,000 services").
  const built = new Map<string, Built>();
  let order: string[] = [];
  function make(list: readonly TaggedInstance[]): Built {
    const notes: string[] = [];
    const legacy = new Set<string>();
    return {
      instances: list,
      raw: buildRawServices(list, tags, notes, legacy),
      notes,
      legacy: [...legacy],
    };
  }
  return {
    build(instances, notes, legacy) {
      let sameSet = instances.size === built.size;
      for (const [key, list] of instances) {
        const b = built.get(key);
        if (b === undefined) sameSet = false;
        if (b === undefined || b.instances !== list) built.set(key, make(list));
      }
      if (!sameSet) {
        for (const key of built.keys()) if (!instances.has(key)) built.delete(key);
        order = [...built.keys()].sort();
      }
      const out: Record<string, unknown>[] = [];
      for (const key of order) {
        const b = built.get(key)!;
        for (const r of b.raw) out.push(r);
        for (const n of b.notes) notes.push(n);
        for (const name of b.legacy) legacy?.add(name);
      }
      return out;
    },
  };
}

/** Whether two snapshots are equal: the same objects, or equal content where they differ. */
export function sameServices(a: readonly ServiceSpec[], b: readonly ServiceSpec[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i] && JSON.stringify(a[i]) !== JSON.stringify(b[i])) return false;
  }
  return true;
}
