// Consul/Nomad service tags -> raw service objects (SPEC section 4), shared by both providers.
// The raw objects go through validateServices like any routing document, so a bad tag value is
// reported the same way a bad file field is.
//
// Grouping: the instances of one discovered service are grouped by their service-level
// settings (listener set, proxy, balance, proxy_protocol, max_connections, sni names). Each group becomes
// one service. Instances that disagree on listeners (a rolling deploy moving a port, say) thus
// each keep serving the listener they ask for, and one instance's proxy is never applied to
// another's backend. A service with one group keeps its plain name; with several, each is named
// `name[label:port,...]` (plus `#2`, `#3` when only other settings differ).
import { formatHostPort } from "../net/host_port.ts";
import { redactUserinfo } from "../text/redact.ts";

/** One registered instance, as both providers see it. */
export interface TaggedInstance {
  /** The discovered service name (Nomad: namespaced when not "default"). */
  readonly service: string;
  /** Instance identity, for a stable order (Consul Service.ID, Nomad registration ID). */
  readonly id: string;
  /** Without brackets; may be IPv6. */
  readonly host: string;
  readonly port: number;
  readonly tags: readonly string[];
  /** Consul's Service.Weights.Passing: the weight when no `<tag>.weight` tag is set. */
  readonly defaultWeight?: number;
}

/** The routing settings read from one instance's tags. */
export interface InstanceTags {
  /** `LABEL:PORT` texts as written, de-duplicated and sorted. */
  readonly listeners: readonly string[];
  /** `<tag>.sni=NAME` (repeatable) texts as written, de-duplicated and sorted. */
  readonly sni?: readonly string[];
  readonly proxy?: string;
  readonly balance?: string;
  readonly proxy_protocol?: string;
  /** Numbers when the text is a decimal integer; the text otherwise, so validation names it. */
  readonly max_connections?: number | string;
  readonly weight?: number | string;
  readonly tier?: number | string;
  /** `<tag>.disabled=true`: a boolean for "true"/"false", the text otherwise (validation names it) */
  readonly disabled?: boolean | string;
  /** `<tag>.group=NAME`: the backend's group (hash identity across listeners) */
  readonly group?: string;
}

const SINGLE_KEYS = [
  "proxy",
  "balance",
  "proxy_protocol",
  "max_connections",
  "weight",
  "tier",
  "disabled",
  "group",
];
const NUMERIC_KEYS = new Set(["max_connections", "weight", "tier"]);

function numeric(text: string): number | string {
  return /^\d{1,15}$/.test(text) ? Number(text) : text;
}

/**
 * Reads `<tag>` and `<tag>.KEY=VALUE` tags. Returns undefined when the instance is not routed
 * (no `<tag>` tag, or no listener). VALUE is everything after the first `=`, so a proxy URL
 * whose password holds `=` survives (dill truncates it). Unknown keys and repeated
 * single-valued keys are reported in `notes` (the first value wins).
 */
export function readInstanceTags(
  tags: readonly string[],
  tag: string,
  notes?: string[],
): InstanceTags | undefined {
  if (!tags.includes(tag)) return undefined;
  const prefix = `${tag}.`;
  const listeners = new Set<string>();
  const sni = new Set<string>();
  const single: Record<string, number | string | boolean> = {};
  for (const t of tags) {
    if (!t.startsWith(prefix)) continue;
    const eq = t.indexOf("=");
    if (eq < 0) {
      notes?.push(`tag "${redactUserinfo(t)}" has no "=VALUE", ignored`);
      continue;
    }
    const key = t.slice(prefix.length, eq);
    const value = t.slice(eq + 1).trim();
    if (key === "listener") {
      listeners.add(value);
    } else if (key === "sni") {
      sni.add(value);
    } else if (SINGLE_KEYS.includes(key)) {
      if (key in single) {
        if (String(single[key]) !== value) {
          const kept = redactUserinfo(String(single[key]));
          notes?.push(`tag "${prefix}${key}" repeated with another value, "${kept}" kept`);
        }
        continue;
      }
      single[key] = NUMERIC_KEYS.has(key) ? numeric(value) : value;
      if (key === "disabled" && (value === "true" || value === "false")) {
        (single as Record<string, unknown>)[key] = value === "true";
      }
    } else {
      notes?.push(`unknown tag "${prefix}${key}", ignored`);
    }
  }
  if (listeners.size === 0) return undefined;
  return {
    listeners: [...listeners].sort(),
    ...(sni.size > 0 ? { sni: [...sni].sort() } : {}),
    ...single,
  } as InstanceTags;
}

/**
 * Reads an instance's tags with the first of `tagList` that routes it (each tag with its own
 * `<tag>.KEY=VALUE` prefix; tags are never mixed). Notes come from the tag used, or from the
 * first tag the instance carries when none routes it.
 */
function readAnyInstanceTags(
  tags: readonly string[],
  tagList: readonly string[],
): { tags?: InstanceTags; tag?: string; notes: string[] } {
  let firstNotes: string[] | undefined;
  for (const tag of tagList) {
    if (!tags.includes(tag)) continue;
    const notes: string[] = [];
    const t = readInstanceTags(tags, tag, notes);
    if (t) return { tags: t, tag, notes };
    firstNotes ??= notes;
  }
  return { notes: firstNotes ?? [] };
}

interface Group {
  readonly key: string;
  readonly settings: Omit<InstanceTags, "weight" | "tier" | "disabled" | "group">;
  readonly backends: Map<string, Record<string, unknown>>;
}

/**
 * Builds raw service objects (the routing document schema) from instances, sorted by name,
 * with backends sorted by address, so equal inputs in any order give equal outputs.
 * Instances without the tag or a listener are skipped. Two instances with the same address
 * give one backend (the one with the smaller id). `tag` may be a list (the first is sluice's
 * own, the others legacy tags); services routed by a later one are added to `legacy`.
 */
export function buildRawServices(
  instances: readonly TaggedInstance[],
  tag: string | readonly string[],
  notes?: string[],
  legacy?: Set<string>,
): Record<string, unknown>[] {
  const sorted = [...instances].sort((a, b) =>
    a.service < b.service ? -1 : a.service > b.service ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0
  );
  const byService = new Map<string, Map<string, Group>>();
  const tagList = typeof tag === "string" ? [tag] : tag;
  for (const inst of sorted) {
    const r = readAnyInstanceTags(inst.tags, tagList);
    for (const n of r.notes) notes?.push(`${inst.service} (${inst.id}): ${n}`);
    const t = r.tags;
    if (!t) continue;
    if (r.tag !== tagList[0]) legacy?.add(inst.service);
    const { weight, tier, disabled, group, ...settings } = t;
    const key = JSON.stringify([
      settings.listeners,
      settings.proxy ?? null,
      settings.balance ?? null,
      settings.proxy_protocol ?? null,
      settings.max_connections ?? null,
      settings.sni ?? null,
    ]);
    let groups = byService.get(inst.service);
    if (!groups) byService.set(inst.service, groups = new Map());
    let g = groups.get(key);
    if (!g) groups.set(key, g = { key, settings, backends: new Map() });
    const address = formatHostPort(inst.host, inst.port);
    if (g.backends.has(address)) continue;
    const backend: Record<string, unknown> = { address };
    const w = weight ?? (inst.defaultWeight !== undefined && Number.isInteger(inst.defaultWeight) &&
        inst.defaultWeight >= 0
      ? inst.defaultWeight
      : undefined);
    if (w !== undefined) backend.weight = w;
    if (tier !== undefined) backend.tier = tier;
    if (disabled !== undefined) backend.disabled = disabled;
    if (group !== undefined) backend.group = group;
    g.backends.set(address, backend);
  }

  const out: Record<string, unknown>[] = [];
  for (const service of [...byService.keys()].sort()) {
    const groups = [...byService.get(service)!.values()].sort((a, b) =>
      a.key < b.key ? -1 : a.key > b.key ? 1 : 0
    );
    const seen = new Map<string, number>();
    for (const g of groups) {
      let name = service;
      if (groups.length > 1) {
        name = `${service}[${g.settings.listeners.join(",")}]`;
        const n = (seen.get(name) ?? 0) + 1;
        seen.set(name, n);
        if (n > 1) name += `#${n}`;
      }
      const raw: Record<string, unknown> = { name, listeners: [...g.settings.listeners] };
      raw.backends = [...g.backends.keys()].sort().map((a) => g.backends.get(a));
      if (g.settings.sni !== undefined) raw.sni = [...g.settings.sni];
      if (g.settings.proxy !== undefined) raw.proxy = g.settings.proxy;
      if (g.settings.balance !== undefined) raw.balance = g.settings.balance;
      if (g.settings.proxy_protocol !== undefined) raw.proxy_protocol = g.settings.proxy_protocol;
      if (g.settings.max_connections !== undefined) {
        raw.max_connections = g.settings.max_connections;
      }
      out.push(raw);
    }
  }
  return out;
}
