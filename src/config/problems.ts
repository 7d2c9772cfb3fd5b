// Problem reporting for the main config: every problem is collected with the key path and the
// layer it came from (file, environment variable, flag), then thrown at once as a ConfigError.
import type { z } from "zod";
import { ConfigError, type ConfigProblem } from "../errors.ts";
import { hint } from "../text/did_you_mean.ts";
import { describeIssue, formatPath } from "../text/issues.ts";
import { keysAt } from "./schema.ts";

// Keys of older dill versions (and common slips) that live elsewhere in sluice's schema.
const MOVED_KEYS: Record<string, string> = {
  consul: "routing.consul",
  nomad: "routing.nomad",
  http: "routing.http",
  file: "routing.file",
  gomaxprocs: "runtime.gomaxprocs",
  allowed: "listeners.allowed",
};

export class Collector {
  readonly problems: ConfigProblem[] = [];
  /** Key path -> where its value came from ("environment variable SLUICE_X", "flag x"). */
  readonly origins = new Map<string, string>();
  /** Things worth one line at start that are not problems (a key read from an older place). */
  readonly notices: string[] = [];
  constructor(readonly fileLabel: string) {}

  originOf(path: string): string {
    let best: string | undefined;
    let bestLen = -1;
    for (const [p, o] of this.origins) {
      if (
        (path === p || path.startsWith(p + ".") || path.startsWith(p + "[")) && p.length > bestLen
      ) {
        best = o;
        bestLen = p.length;
      }
    }
    return best ?? this.fileLabel;
  }

  /** Records "<source>: <key path>: <what>", the key-path form of every config problem. */
  add(path: string, what: string): void {
    const where = this.originOf(path);
    this.problems.push({ path, message: `${where}: ${path || "(top level)"}: ${what}` });
  }

  /** Runs `f`, recording a ConfigError it throws (durations, sizes) as problems. */
  try<T>(f: () => T): T | undefined {
    try {
      return f();
    } catch (err) {
      if (err instanceof ConfigError) {
        for (const p of err.problems) {
          const what = p.message.startsWith(`${p.path}: `)
            ? p.message.slice(p.path.length + 2)
            : p.message;
          this.add(p.path, what);
        }
        return undefined;
      }
      throw err;
    }
  }

  /** A duration at `path`, `dflt` when unset or invalid (the problem is recorded). */
  duration(parse: (v: unknown, path: string) => number, v: unknown, path: string, dflt: number) {
    return v === undefined ? dflt : this.try(() => parse(v, path)) ?? dflt;
  }
}

/** Throws every collected problem as one ConfigError. */
export function fail(c: Collector, source: string): never {
  const n = c.problems.length;
  const head = `Invalid configuration ${source}: ${n} problem${n === 1 ? "" : "s"}`;
  throw new ConfigError(
    [head, ...c.problems.map((p) => `  - ${p.message}`)].join("\n"),
    c.problems,
  );
}

const DURATION_KEYS: ReadonlySet<string> = new Set([
  "drain_timeout",
  "bind_retry",
  "half_close_timeout",
  "connect_timeout",
  "idle_timeout",
  "interval",
  "timeout",
  "poll_interval",
  "poll_timeout",
  "wait",
]);

function expectedFor(path: readonly PropertyKey[]): string | undefined {
  const last = String(path[path.length - 1] ?? "");
  if (DURATION_KEYS.has(last)) {
    return 'a duration such as "250ms", "5s", "1m30s" or a number of seconds';
  }
  if (last === "max_bytes") return 'a size such as 4194304, "512KiB" or "4MiB"';
  if (last === "hash_key") return '"client_ip" or "first_bytes:START-END"';
  if (last === "health") return '"none" or a health table';
  return undefined;
}

/** Records the schema's issues as problems, with did-you-mean hints for unknown keys. */
export function issueProblems(c: Collector, issues: readonly z.core.$ZodIssue[]): void {
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const known = keysAt(issue.path);
      for (const key of issue.keys) {
        const path = formatPath([...issue.path, key]);
        const moved = issue.path.length === 0 ? MOVED_KEYS[key] : undefined;
        const tip = moved ? ` (did you mean "${moved}"?)` : hint(key, known);
        c.add(path, `unknown key${tip}; expected one of ${known.map((k) => `"${k}"`).join(", ")}`);
      }
      continue;
    }
    c.add(formatPath(issue.path), describeIssue(issue, expectedFor));
  }
}
