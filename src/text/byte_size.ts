// Byte sizes: a number of bytes, or "512KiB", "4MiB", "1GiB", "10kB", "2MB".
import { ConfigError } from "../errors.ts";

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
};

export const BYTE_SIZE_PATTERN = "^\\s*\\d+(?:\\.\\d+)?\\s*(?:[bB]|[kKmMgG][iI]?[bB]?)?\\s*$";

/** Parses a byte size into a whole number of bytes; throws a ConfigError naming `path`. */
export function parseByteSize(v: unknown, path: string): number {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === "string") {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
    const factor = m ? UNITS[(m[2] ?? "").toLowerCase() || "b"] : undefined;
    if (m && factor !== undefined) return Math.floor(Number(m[1]) * factor);
  }
  const shown = typeof v === "string" ? `"${v}"` : String(v);
  const message =
    `expected a size in bytes (a whole number) or such as "512KiB", "4MiB", "1GiB", got ${shown}`;
  throw new ConfigError(`${path}: ${message}`, [{ path, message }]);
}
