// Layering of the main config: file < DYNTCP_* < DILL_* < SLUICE_* environment < flags. Strings from the
// environment and flags are coerced by the type their key holds; pure (no I/O).
import { hint } from "../text/did_you_mean.ts";
import type { z } from "zod";
import type { Collector } from "./problems.ts";
import type { LeafKind } from "./schema.ts";

export type Json = Record<string, unknown>;

export function isTable(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function setAt(obj: Json, path: string, value: unknown): void {
  const parts = path.split(".");
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (!isTable(cur[p])) cur[p] = {};
    cur = cur[p] as Json;
  }
  cur[parts[parts.length - 1] as string] = value;
}

/** The environment prefixes, strongest first: sluice's own, then dill's and dyntcp's. */
const ENV_PREFIXES = ["SLUICE_", "DILL_", "DYNTCP_"] as const;

/**
 * The variables that may set `path`, strongest first. Provider keys also have dill's short
 * form without `ROUTING_` (`DILL_CONSUL_ADDRESS` for routing.consul.address); within one
 * prefix the long form wins, and a stronger prefix wins over both forms of a weaker one.
 */
export function envNames(path: string): string[] {
  const tail = path.toUpperCase().replace(/\./g, "_");
  const short = /^ROUTING_(CONSUL|NOMAD|HTTP|FILE)_/.test(tail)
    ? tail.slice("ROUTING_".length)
    : undefined;
  return ENV_PREFIXES.flatMap((p) => short ? [p + tail, p + short] : [p + tail]);
}

/** Coerces a string (environment, flag) to the type the key holds; odd input is left as is. */
export function coerce(kind: LeafKind, text: string): unknown {
  const t = text.trim();
  switch (kind) {
    case "number":
      return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : text;
    case "boolean": {
      const l = t.toLowerCase();
      if (["true", "1", "yes", "on"].includes(l)) return true;
      if (["false", "0", "no", "off"].includes(l)) return false;
      return text;
    }
    case "string_or_number":
      return /^\d+(\.\d+)?$/.test(t) ? Number(t) : text;
    case "record": {
      if (t === "") return {};
      if (t.startsWith("{")) {
        try {
          return JSON.parse(t);
        } catch {
          return text;
        }
      }
      const out: Record<string, string> = {};
      for (const pair of t.split(",")) {
        const eq = pair.indexOf("=");
        if (eq <= 0) return text;
        out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
      }
      return out;
    }
    case "string":
      return text;
  }
}

/** runtime.gomaxprocs (dill) is runtime.workers unless the same layer sets both. */
export function aliasGomaxprocs(layer: Json): void {
  const rt = layer.runtime;
  if (isTable(rt) && rt.gomaxprocs !== undefined) {
    if (rt.workers === undefined) rt.workers = rt.gomaxprocs;
    delete rt.gomaxprocs;
  }
}

/** The SLUICE_* / DILL_* / DYNTCP_* layer; records each value's origin in `c`. */
export function envLayer(
  c: Collector,
  leaves: ReadonlyMap<string, LeafKind>,
  env: Record<string, string | undefined>,
): Json {
  const layer: Json = {};
  for (const [path, kind] of leaves) {
    const name = envNames(path).find((n) => env[n] !== undefined);
    if (name === undefined) continue;
    const text = env[name] as string;
    // An empty variable means "unset" except for strings, where "" is a value (admin.listener).
    if (text === "" && kind !== "string") continue;
    setAt(layer, path, coerce(kind, text));
    c.origins.set(
      path === "runtime.gomaxprocs" ? "runtime.workers" : path,
      `environment variable ${name}`,
    );
  }
  aliasGomaxprocs(layer);
  return layer;
}

/** The command-line layer (dotted key paths); unknown keys are recorded as problems. */
export function flagLayer(
  c: Collector,
  leaves: ReadonlyMap<string, LeafKind>,
  overrides: Record<string, unknown>,
): Json {
  const layer: Json = {};
  for (const [path, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const kind = leaves.get(path);
    if (kind === undefined) {
      c.origins.set(path, `flag ${path}`);
      c.add(path, `unknown key${hint(path, [...leaves.keys()])}`);
      continue;
    }
    setAt(layer, path, typeof value === "string" ? coerce(kind, value) : value);
    c.origins.set(path === "runtime.gomaxprocs" ? "runtime.workers" : path, `flag ${path}`);
  }
  aliasGomaxprocs(layer);
  return layer;
}

/** Deep merge of plain tables; records (listeners.allowed, headers) set by a layer replace whole. */
export function mergeInto(
  target: Json,
  layer: Json,
  leaves: ReadonlyMap<string, LeafKind>,
  path = "",
): void {
  for (const [k, v] of Object.entries(layer)) {
    const p = path ? `${path}.${k}` : k;
    const isRecordLeaf = leaves.get(p) === "record";
    if (isTable(v) && !isRecordLeaf && isTable(target[k])) {
      mergeInto(target[k] as Json, v, leaves, p);
    } else target[k] = v;
  }
}

/** Removes the value an issue is about (or its table, when a required key is missing). */
export function prune(root: Json, issue: z.core.$ZodIssue): void {
  const missing = issue.code === "invalid_type" &&
    (issue as { input?: unknown }).input === undefined;
  const path = missing ? issue.path.slice(0, -1) : issue.path;
  if (issue.code === "unrecognized_keys") {
    const table = getAt(root, path);
    if (isTable(table)) { for (const k of issue.keys) delete table[k]; }
    return;
  }
  if (path.length === 0) return;
  const parent = getAt(root, path.slice(0, -1));
  const last = path[path.length - 1] as PropertyKey;
  if (isTable(parent)) delete parent[String(last)];
  else if (Array.isArray(parent) && typeof last === "number") parent.splice(last, 1);
}

function getAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const p of path) {
    if (isTable(cur)) cur = cur[String(p)];
    else if (Array.isArray(cur) && typeof p === "number") cur = cur[p];
    else return undefined;
  }
  return cur;
}
