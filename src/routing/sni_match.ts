// Picks the service for a TLS server name among the services sharing one listener: compiled
// once per routing table into maps, so a connection costs at most two lookups.

/** One service on a shared listener and the names it claims (empty: the default). */
export interface SniClaim<S> {
  readonly service: S;
  /** The service's name, for problems and logs. */
  readonly label: string;
  /** Exact names and `*.` wildcards, e.g. `["db.example.com", "*.apps.example.com"]`. */
  readonly sni: readonly string[];
}

/** What took a connection, and by which rule. */
export interface SniPick<S> {
  readonly service: S;
  readonly label: string;
  /** The normalised rule that matched (`"*.apps.example.com"`), or `"default"`. */
  readonly rule: string;
  readonly by: "exact" | "wildcard" | "default";
}

/** A claim that was dropped; the rest of the listener's claims apply. */
export interface SniProblem {
  readonly kind: "conflict" | "invalid";
  /** The services involved: the one that kept the name first, then the one refused. */
  readonly services: readonly string[];
  /** The name as written. */
  readonly name: string;
  readonly message: string;
}

export interface SniMatcher<S> {
  /**
   * The service for a server name (any case, trailing dot ignored), or for a connection with no
   * usable name when `name` is undefined; undefined when nothing takes it (no default).
   */
  pick(name: string | undefined): SniPick<S> | undefined;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * The canonical form of an `sni` entry (lower case, no trailing dot), or null when it is not a
 * host name or a `*.`-wildcard over one (`*` stands for exactly one label).
 */
export function normalizeSniName(raw: string): string | null {
  let s = raw.toLowerCase();
  if (s.endsWith(".")) s = s.slice(0, -1);
  const host = s.startsWith("*.") ? s.slice(2) : s;
  if (host.length === 0 || host.length > 253) return null;
  for (const label of host.split(".")) if (!LABEL.test(label)) return null;
  return s;
}

/** Normalises a name from a ClientHello the same way (cheap when already canonical). */
function canonical(name: string): string {
  const s = name.endsWith(".") ? name.slice(0, -1) : name;
  return s.toLowerCase();
}

/**
 * Compiles the claims of one listener. Claims are taken in the order given (the caller sorts
 * them, e.g. by service name, so the outcome is deterministic): a name claimed twice, or a
 * second service without `sni`, stays with the first and yields a problem naming both.
 */
export function compileSniMatcher<S>(
  claims: readonly SniClaim<S>[],
): { matcher: SniMatcher<S>; problems: SniProblem[] } {
  const exact = new Map<string, SniPick<S>>();
  const wild = new Map<string, SniPick<S>>(); // keyed by the part after "*."
  const problems: SniProblem[] = [];
  let fallback: SniPick<S> | undefined;

  for (const c of claims) {
    if (c.sni.length === 0) {
      if (fallback !== undefined) {
        problems.push({
          kind: "conflict",
          services: [fallback.label, c.label],
          name: "default",
          message: `services "${fallback.label}" and "${c.label}" both take connections ` +
            `without a matching server name; "${fallback.label}" keeps them`,
        });
        continue;
      }
      fallback = Object.freeze({
        service: c.service,
        label: c.label,
        rule: "default",
        by: "default",
      });
      continue;
    }
    for (const raw of c.sni) {
      const name = normalizeSniName(raw);
      if (name === null) {
        problems.push({
          kind: "invalid",
          services: [c.label],
          name: raw,
          message: `service "${c.label}": sni "${raw}" is not a host name or "*." wildcard`,
        });
        continue;
      }
      const isWild = name.startsWith("*.");
      const map = isWild ? wild : exact;
      const key = isWild ? name.slice(2) : name;
      const held = map.get(key);
      if (held !== undefined) {
        if (held.service !== c.service) {
          problems.push({
            kind: "conflict",
            services: [held.label, c.label],
            name: raw,
            message: `sni "${name}" is claimed by services "${held.label}" and "${c.label}"; ` +
              `"${held.label}" keeps it`,
          });
        }
        continue;
      }
      map.set(
        key,
        Object.freeze({
          service: c.service,
          label: c.label,
          rule: name,
          by: isWild ? "wildcard" : "exact",
        }),
      );
    }
  }

  const matcher: SniMatcher<S> = {
    pick(raw) {
      if (raw === undefined || raw.length === 0) return fallback;
      const name = canonical(raw);
      const hit = exact.get(name);
      if (hit !== undefined) return hit;
      // "*." stands for exactly one non-empty label, so only the parent name can match.
      const dot = name.indexOf(".");
      if (dot > 0) {
        const w = wild.get(name.slice(dot + 1));
        if (w !== undefined) return w;
      }
      return fallback;
    },
  };
  return { matcher, problems };
}
