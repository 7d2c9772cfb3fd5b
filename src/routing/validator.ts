// A service validator for one source (a file, an HTTP endpoint, Consul, Nomad), owned by that
// source's provider: validate() gives what validateServices() gives, but reuses its own earlier
// work. A raw object seen before gives the same ServiceSpec object again without new work (raw
// data is never changed after parsing), which lets the table builder skip unchanged services;
// when the list differs from the previous clean list in a few objects only, the rest of the
// result is copied from that list instead of looked up one by one.
import { validateService } from "./service.ts";
import type { ParsedDocument, RouteProblem, ServiceSpec } from "./types.ts";

export interface ServiceValidator {
  /** What validateServices(raw, source) gives. */
  validate(raw: readonly unknown[]): ParsedDocument;
}

/** A service validated before, by its raw object. */
interface Validated {
  /** Only for a service without a name: its problems name it by position ("#3"). */
  readonly index: number | undefined;
  readonly spec: ServiceSpec | undefined;
  readonly problems: readonly RouteProblem[];
}

/** The last list, when every raw object gave a service and no problem. */
interface CleanRun {
  readonly raw: readonly unknown[];
  readonly services: readonly ServiceSpec[];
}

/** More changed objects than this: the general path is as quick. */
const MAX_QUICK = 64;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function createServiceValidator(source: string): ServiceValidator {
  const validated = new WeakMap<object, Validated>();
  let lastClean: CleanRun | undefined;

  function validateInto(
    r: unknown,
    i: number,
    services: ServiceSpec[],
    problems: RouteProblem[],
  ): void {
    const known = isPlainObject(r) ? validated.get(r) : undefined;
    if (known && (known.index === undefined || known.index === i)) {
      if (known.spec) services.push(known.spec);
      for (const p of known.problems) problems.push(p);
      return;
    }
    const mine: RouteProblem[] = [];
    const spec = validateService(r, i, source, mine);
    if (spec) services.push(spec);
    for (const p of mine) problems.push(p);
    if (isPlainObject(r)) {
      const named = typeof r.name === "string" && r.name !== "";
      validated.set(r, { index: named ? undefined : i, spec, problems: mine });
    }
  }

  /** The result from the last clean list and the few objects that changed, if clean. */
  function quick(raw: readonly unknown[]): ParsedDocument | undefined {
    const prev = lastClean;
    if (!prev) return undefined;
    const a = prev.raw;
    const n = Math.min(a.length, raw.length);
    let head = 0;
    while (head < n && a[head] === raw[head]) head++;
    let tail = 0;
    while (tail < n - head && a[a.length - 1 - tail] === raw[raw.length - 1 - tail]) tail++;
    if (raw.length - head - tail > MAX_QUICK) return undefined;
    const middle: ServiceSpec[] = [];
    const problems: RouteProblem[] = [];
    for (let i = head; i < raw.length - tail; i++) validateInto(raw[i], i, middle, problems);
    // A problem, or a dropped service, and the list is no longer one result per object.
    if (problems.length || middle.length !== raw.length - head - tail) return undefined;
    // Clean lists hold one service per raw object, in order: prev.services[i] is a[i]'s.
    const services = prev.services.slice(0, head).concat(
      middle,
      prev.services.slice(prev.services.length - tail),
    );
    lastClean = { raw: raw.slice(), services };
    return { services: services.slice(), problems: [] };
  }

  return {
    validate(raw) {
      const fast = quick(raw);
      if (fast) return fast;
      const services: ServiceSpec[] = [];
      const problems: RouteProblem[] = [];
      raw.forEach((r, i) => validateInto(r, i, services, problems));
      lastClean = undefined;
      if (problems.length === 0 && services.length === raw.length) {
        // Copies: a caller may change its lists later; these must stay as they were.
        lastClean = { raw: raw.slice(), services: services.slice() };
      }
      return { services, problems };
    },
  };
}
