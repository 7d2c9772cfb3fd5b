// Loads the main config: file (TOML/YAML/JSON/HCL/envfile/properties) < DYNTCP_* < DILL_* <
// SLUICE_* environment < flags, then defaults and validation. Every problem is collected and
// thrown at once as a ConfigError.
// The parts: read.ts (the only I/O), layers.ts, resolve.ts, problems.ts; defaults in src/defaults.ts.
import process from "node:process";
import type { Config } from "./types.ts";
import { configSchema, type RawConfig, schemaLeaves } from "./schema.ts";
import {
  aliasGomaxprocs,
  envLayer,
  flagLayer,
  isTable,
  type Json,
  mergeInto,
  prune,
} from "./layers.ts";
import { Collector, fail, issueProblems } from "./problems.ts";
import { readConfigFile, readText } from "./read.ts";
import { resolveConfig } from "./resolve.ts";

export interface LoadConfigOptions {
  /** The config file; none = defaults (plus environment and overrides). */
  readonly path?: string;
  /** @default process.env */
  readonly env?: Record<string, string | undefined>;
  /** Command-line values by dotted key path, e.g. {"log.level": "debug"}; strings are coerced. */
  readonly overrides?: Record<string, unknown>;
}

/** Loads, overlays, validates and resolves the main configuration; throws ConfigError. */
export async function loadConfig(o: LoadConfigOptions = {}): Promise<Config> {
  const env = o.env ?? process.env;
  const fileLabel = o.path ?? "(no config file)";
  const c = new Collector(o.path ?? "defaults");
  let merged: Json = {};

  if (o.path !== undefined) {
    merged = structuredClone(await readConfigFile(c, o.path));
    aliasGomaxprocs(merged);
    moveDyntcpConsul(c, merged);
  }

  const leaves = schemaLeaves();
  const layers = [envLayer(c, leaves, env), flagLayer(c, leaves, o.overrides ?? {})];
  for (const layer of layers) mergeInto(merged, layer, leaves);

  // Report the schema's problems, then prune the offending values and go on, so the semantic
  // checks below also run and every problem is reported at once.
  let data: RawConfig | undefined;
  for (let round = 0; round < 8 && data === undefined; round++) {
    const parsed = configSchema.safeParse(merged, { reportInput: true });
    if (parsed.success) {
      data = parsed.data;
      break;
    }
    if (round === 0) issueProblems(c, parsed.error.issues);
    for (const issue of parsed.error.issues) prune(merged, issue);
  }
  if (data === undefined) fail(c, fileLabel);
  const config = await resolveConfig(c, data, o.path, readText);
  if (c.problems.length) fail(c, fileLabel);
  return c.notices.length ? { ...config, notices: [...c.notices] } : config;
}

/** dyntcp's top-level `[consul]` is sluice's `[routing.consul]`: read it there, say so once. */
function moveDyntcpConsul(c: Collector, file: Json): void {
  if (!isTable(file.consul)) return;
  const routing = isTable(file.routing) ? file.routing : undefined;
  if (routing?.consul !== undefined) return; // both: the schema reports "consul" as unknown
  file.routing = { ...routing, consul: file.consul };
  delete file.consul;
  c.notices.push(`${c.fileLabel}: "consul" (dyntcp's key) is read as "routing.consul"`);
}
