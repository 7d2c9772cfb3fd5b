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
  let built = new Map<string, Built>();
  return {
    build(instances, notes, legacy) {
      const next = new Map<string, Built>();
      const out: Record<string, unknown>[] = [];
      for (const key of [...instances.keys()].sort()) {
        const list = instances.get(key)!;
        let b = built.get(key);
        if (!b || b.instances !== list) {
          const n: string[] = [];
          const l = new Set<string>();
          b = {
            instances: list,
            raw: buildRawServices(list, tags, n, l),
            notes: n,
            legacy: [...l],
          };
        }
        next.set(key, b);
        out.push(...b.raw);
        notes.push(...b.notes);
        for (const name of b.legacy) legacy?.add(name);
      }
      built = next;
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
