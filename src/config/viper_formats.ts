// The three main-config formats dill reads through Viper besides TOML, YAML and JSON: HCL
// (version 2 native syntax, through hcl2-parser), envfiles (dotenv) and Java properties
// (dot-properties). Each becomes the same table the other formats give, so the schema reports
// the same keys and errors whatever the format.
import { SluiceError } from "../errors.ts";
import { coerce, isTable, type Json } from "./layers.ts";
import type { LeafKind } from "./schema.ts";

export type ViperFormat = "hcl" | "env" | "properties";

/** The Viper-only format implied by a file name's extension, if any. */
export function viperFormatFromPath(path: string): ViperFormat | undefined {
  const m = /\.([a-z]+)$/i.exec(path);
  const ext = m?.[1]?.toLowerCase();
  if (ext === "hcl") return "hcl";
  if (ext === "env") return "env";
  if (ext === "properties") return "properties";
  return undefined;
}

/** A file that does not parse; HCL's parser gives no position, so none is claimed. */
export class ViperSyntaxError extends SluiceError {
  constructor(readonly reason: string) {
    super("CONFIG", reason);
    this.name = "ViperSyntaxError";
  }
}

/**
 * Parses `text` as `format` into a table of settings. `leaves` (key path -> kind) turns the
 * flat formats' strings into the types the keys hold and maps env-style names
 * (`LISTENERS_PORT_MIN`, also with a `SLUICE_`, `DILL_` or `DYNTCP_` prefix) to key paths.
 */
export async function parseViperText(
  text: string,
  format: ViperFormat,
  leaves: ReadonlyMap<string, LeafKind>,
): Promise<Json> {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  switch (format) {
    case "hcl":
      return await parseHcl(body);
    // Loaded only when such a file is read, so a TOML/YAML/JSON start needs none of them.
    case "env": {
      const { parse } = await import("dotenv");
      return flatToTable(parse(body), leaves);
    }
    case "properties": {
      const { parse } = await import("dot-properties");
      return flatToTable(parse(body) as Record<string, string>, leaves);
    }
  }
}

async function parseHcl(text: string): Promise<Json> {
  if (text.trim() === "") return {};
  // hcl2-parser is a 3.8 MB GopherJS build: load it only when an .hcl file is read.
  const mod = await import("hcl2-parser") as unknown as {
    default?: { parseToObject(s: string): unknown };
    parseToObject?(s: string): unknown;
  };
  const parseToObject = mod.parseToObject ?? mod.default?.parseToObject;
  if (!parseToObject) {
    throw new SluiceError("CONFIG", "Cannot parse HCL: hcl2-parser has no parseToObject");
  }
  const result = parseToObject(text) as [unknown, unknown];
  const [data, err] = Array.isArray(result) ? result : [result, null];
  if (err !== null && err !== undefined) {
    // The GopherJS build hands back an opaque error object, without the message or position.
    throw new ViperSyntaxError("not valid HCL (version 2 native syntax)");
  }
  const out = unwrapBlocks(data);
  return isTable(out) ? out : {};
}

/**
 * hcl2-parser gives every block as a list of objects (`listeners { ... }` is
 * `listeners: [{...}]`, as HCL allows repeating a block). The main config has no list of
 * tables, so a list of tables is merged into one table, later blocks winning key by key.
 */
export function unwrapBlocks(v: unknown): unknown {
  if (Array.isArray(v)) {
    if (v.length > 0 && v.every(isTable)) {
      const merged: Json = {};
      for (const t of v) {
        for (const [k, x] of Object.entries(unwrapBlocks(t) as Json)) {
          merged[k] = isTable(merged[k]) && isTable(x) ? { ...merged[k] as Json, ...x } : x;
        }
      }
      return merged;
    }
    return v.map(unwrapBlocks);
  }
  if (isTable(v)) {
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) out[k] = unwrapBlocks(x);
    return out;
  }
  return v;
}

const ENV_PREFIXES = ["SLUICE_", "DILL_", "DYNTCP_"];

/** `LISTENERS_PORT_MIN` (or `DILL_LISTENERS_PORT_MIN`) -> `listeners.port_min`, if a key. */
function envStyleKey(name: string, leaves: ReadonlyMap<string, LeafKind>): string | undefined {
  const upper = name.toUpperCase();
  const tails = [
    upper,
    ...ENV_PREFIXES.filter((p) => upper.startsWith(p)).map((p) => upper.slice(p.length)),
  ];
  for (const tail of tails) {
    for (const [path, kind] of leaves) {
      const envName = path.toUpperCase().replace(/\./g, "_");
      if (envName === tail) return path;
      // A record's entry: LISTENERS_ALLOWED_LOCAL -> listeners.allowed.local
      if (kind === "record" && tail.startsWith(envName + "_") && tail.length > envName.length + 1) {
        return `${path}.${tail.slice(envName.length + 1).toLowerCase()}`;
      }
    }
  }
  return undefined;
}

/** Flat `key = value` pairs (dotted or env-style keys) -> a nested table with typed leaves. */
function flatToTable(
  flat: Record<string, string>,
  leaves: ReadonlyMap<string, LeafKind>,
): Json {
  const out: Json = {};
  for (const [rawKey, value] of Object.entries(flat)) {
    const key = rawKey.trim();
    if (key === "") continue;
    const path = key.includes(".") ? key.toLowerCase() : envStyleKey(key, leaves) ?? key;
    const kind = leaves.get(path);
    const parts = path.split(".");
    let cur = out;
    for (const p of parts.slice(0, -1)) {
      if (!isTable(cur[p])) cur[p] = {};
      cur = cur[p] as Json;
    }
    cur[parts[parts.length - 1] as string] = kind ? coerce(kind, value) : value;
  }
  return out;
}
