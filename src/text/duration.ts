// Go-style durations ("250ms", "5s", "1m30s", "1h"); a bare number is seconds. Result in ms.
import { ConfigError } from "../errors.ts";

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = "(\\d+(?:\\.\\d*)?|\\.\\d+)(ns|us|µs|μs|ms|s|m|h)";

/** A JSON-Schema-friendly pattern for duration strings (also accepts a bare number). */
export const DURATION_PATTERN =
  "^(?:(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:ns|us|µs|μs|ms|s|m|h))+$|^\\d+(?:\\.\\d+)?$|^0$";

/** The key-path form: `listeners.drain_timeout: expected a duration ..., got "x" (why)`. */
function fail(path: string, v: unknown, why?: string): never {
  const shown = typeof v === "string" ? `"${v}"` : String(v);
  const message =
    `expected a duration such as "250ms", "5s", "1m30s" or a number of seconds, got ${shown}${
      why ? ` (${why})` : ""
    }`;
  throw new ConfigError(`${path}: ${message}`, [{ path, message }]);
}

/** Parses a duration into milliseconds (fractions kept); throws a ConfigError naming `path`. */
export function parseDuration(v: unknown, path: string): number {
  if (typeof v === "number") {
    if (!Number.isFinite(v) || v < 0) fail(path, v, "negative or infinite");
    return v * 1000;
  }
  if (typeof v !== "string") fail(path, v);
  const text = v.trim();
  if (text === "") fail(path, v, "empty");
  // A bare number in a string (from the environment, or "0") counts as seconds.
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  if (text.startsWith("-")) fail(path, v, "negative");
  const body = text.startsWith("+") ? text.slice(1) : text;
  let total = 0;
  // A sticky regex per call: its lastIndex is state, so it is not shared at module level.
  const part = new RegExp(PART, "y");
  while (part.lastIndex < body.length) {
    const at = part.lastIndex;
    const m = part.exec(body);
    if (!m) {
      fail(path, v, `cannot read "${body.slice(at)}"`);
    }
    total += Number(m[1]) * (UNIT_MS[m[2] as string] ?? Number.NaN);
  }
  if (!Number.isFinite(total)) fail(path, v);
  return total;
}

/** Formats milliseconds back as a Go-style duration ("1m30s", "250ms", "0s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  const h = Math.floor(rest / 3_600_000);
  if (h) (out += `${h}h`), (rest -= h * 3_600_000);
  const m = Math.floor(rest / 60_000);
  if (m) (out += `${m}m`), (rest -= m * 60_000);
  const s = Math.floor(rest / 1000);
  if (s) (out += `${s}s`), (rest -= s * 1000);
  if (rest) out += `${Number(rest.toFixed(3))}ms`;
  return out;
}
