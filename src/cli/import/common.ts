// `sluice import KIND FILE -o DIR`: the parts every source format shares. Each format's
// converter (iaido.ts, tcpffee.ts, tcpproxy.ts) turns the other proxy's own config into a
// sluice main config and routing document (plain data) plus the list of settings it could not
// carry over, each with the reason; this file names listeners, writes the two files and says
// what was left behind.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isIP } from "node:net";
import { stringify } from "smol-toml";
import { DEFAULTS } from "../../defaults.ts";
import { SluiceError } from "../../errors.ts";

export type Json = Record<string, unknown>;

/** A setting of the source config that the import left out, and why. */
export interface Skipped {
  /** Its key path in the source file, e.g. "groups.1.healthchecks[1]" or "peers" */
  readonly key: string;
  readonly why: string;
}

export interface Imported {
  /** sluice's main config (snake_case keys, as written to config.toml) */
  readonly config: Json;
  /** The routing document: { services: [...] } */
  readonly routing: { services: Json[] };
  readonly skipped: Skipped[];
  /** Settings carried over with a change worth saying (e.g. a tier order, a balance). */
  readonly notes: string[];
}

/** Why the import stops: a file that is not the format it claims (exit 2). */
export class ImportError extends SluiceError {
  constructor(message: string) {
    super("CONFIG", message);
    this.name = "ImportError";
  }
}

export function isTable(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Case-insensitive key lookup (Go YAML decoders read `Name` and `name` alike). */
export function field(t: Json, ...names: string[]): unknown {
  for (const n of names) {
    if (n in t) return t[n];
    const k = Object.keys(t).find((x) => x.toLowerCase() === n.toLowerCase());
    if (k !== undefined) return t[k];
  }
  return undefined;
}

/**
 * Listener labels for the bind IPs an import needs: `local` for 127.0.0.1, `any` for
 * 0.0.0.0 (and an empty host), `any6` for ::, `ip_1`, `ip_2`, ... for others.
 */
export class Labels {
  readonly allowed: Record<string, string> = {};
  label(host: string): string {
    const ip = host === "" || host === "*" ? "0.0.0.0" : host === "localhost" ? "127.0.0.1" : host;
    for (const [l, a] of Object.entries(this.allowed)) if (a === ip) return l;
    const known = Object.entries(DEFAULTS.listeners.allowed).find(([, a]) => a === ip)?.[0];
    const name = known ?? (ip === "::" ? "any6" : `ip_${Object.keys(this.allowed).length + 1}`);
    this.allowed[name] = ip;
    return name;
  }
}

/** Whether a bind host can be a listeners.allowed value (sluice binds IPs, not names). */
export function isBindable(host: string): boolean {
  return host === "" || host === "*" || host === "localhost" || isIP(host) !== 0;
}

/** port_min/port_max that admit every port the import opens (dill's range when they fit). */
function portRange(ports: readonly number[]): { port_min: number; port_max: number } {
  const lo = Math.min(DEFAULTS.listeners.portMin, ...ports);
  const hi = Math.max(DEFAULTS.listeners.portMax, ...ports);
  return { port_min: lo, port_max: hi };
}

/** The main config every import starts from: the routing file next to it, watched. */
export function baseConfig(allowed: Record<string, string>, ports: readonly number[]): Json {
  return {
    listeners: { allowed: { ...allowed }, ...portRange(ports) },
    routing: { file: { path: "routing.toml", watch: true } },
  };
}

/** Writes DIR/config.toml and DIR/routing.toml, each headed by where it came from. */
export async function writeImport(
  dir: string,
  kind: string,
  source: string,
  r: Imported,
): Promise<string[]> {
  const head = `# Written by sluice import ${kind} ${source}.\n`;
  const skippedText = r.skipped.length === 0 ? "" : "# Not carried over:\n" +
    r.skipped.map((s) => `#   ${s.key}: ${s.why}\n`).join("");
  await mkdir(dir, { recursive: true });
  const config = join(dir, "config.toml");
  const routing = join(dir, "routing.toml");
  await writeFile(config, `${head}${skippedText}\n${stringify(r.config)}\n`);
  // A backend with nothing but an address is written as its address, as people write them.
  const services = r.routing.services.map((svc) => ({
    ...svc,
    backends: Array.isArray(svc.backends)
      ? svc.backends.map((b) =>
        isTable(b) && Object.keys(b).length === 1 && typeof b.address === "string" ? b.address : b
      )
      : svc.backends,
  }));
  await writeFile(routing, `${head}\n${stringify({ services })}\n`);
  return [config, routing];
}
