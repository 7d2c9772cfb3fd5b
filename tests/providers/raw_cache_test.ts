// The raw-service cache kept between rounds equals building every service afresh, whatever the
// rounds add, drop, change or keep (kept lists come back as the same objects, as in the loop).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createRawServiceCache } from "../../src/providers/raw_cache.ts";
import { buildRawServices, type TaggedInstance } from "../../src/providers/tags.ts";

const TAGS = ["sluice", "dill"];

const instance = (service: string) =>
  fc.record({
    id: fc.constantFrom("a", "b"),
    port: fc.integer({ min: 1, max: 3 }),
    tags: fc.subarray([
      "sluice",
      "dill",
      "sluice.listener=local:2000",
      "dill.listener=local:2001",
      "sluice.weight=x",
    ]),
  }).map((r): TaggedInstance => ({ service, host: "10.0.0.1", ...r }));

const NAMES = ["web", "db", "cache", "api"];
/** A round: per service, keep last round's list (same object), a new list, or no service. */
const round = fc.array(
  fc.oneof(
    fc.constant("keep" as const),
    fc.constant("drop" as const),
    fc.integer({ min: 0, max: 3 }).chain((i) => fc.array(instance(NAMES[i]!), { maxLength: 2 })),
  ),
  { minLength: NAMES.length, maxLength: NAMES.length },
);

function fresh(instances: ReadonlyMap<string, readonly TaggedInstance[]>) {
  const notes: string[] = [];
  const legacy = new Set<string>();
  const raw = [...instances.keys()].sort().flatMap((k) =>
    buildRawServices(instances.get(k)!, TAGS, notes, legacy)
  );
  return { raw, notes, legacy: [...legacy].sort() };
}

describe("raw service cache", () => {
  it("builds what a fresh build gives, round after round", () => {
    fc.assert(
      fc.property(fc.array(round, { minLength: 1, maxLength: 8 }), (rounds) => {
        const cache = createRawServiceCache(TAGS);
        let last = new Map<string, readonly TaggedInstance[]>();
        for (const r of rounds) {
          const next = new Map<string, readonly TaggedInstance[]>();
          r.forEach((what, i) => {
            const name = NAMES[i]!;
            if (what === "keep") {
              const kept = last.get(name);
              if (kept) next.set(name, kept);
            } else if (what !== "drop") next.set(name, what);
          });
          // The map's own order is not the answer's: it must come out sorted by name.
          const shuffled = new Map([...next].reverse());
          const notes: string[] = [];
          const legacy = new Set<string>();
          const raw = cache.build(shuffled, notes, legacy);
          assert.deepEqual({ raw, notes, legacy: [...legacy].sort() }, fresh(next));
          last = next;
        }
      }),
      { numRuns: 300 },
    );
  });
});
