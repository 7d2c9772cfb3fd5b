// A routing document (TOML, YAML or JSON text) to validated services, or a located parse error.
import { SluiceError } from "../errors.ts";
import { parseText, TextSyntaxError } from "../text/text_format.ts";
import { formatFromPath as formatOfPath } from "../text/text_format.ts";
import { hint } from "../text/did_you_mean.ts";
import { show } from "../text/issues.ts";
import { validateServices } from "./service.ts";
import { parseTomlServices, type TomlPieceCache } from "./toml_services.ts";
import type { RouteProblem, ServiceSpec } from "./types.ts";

export type DocumentFormat = "toml" | "yaml" | "json";

export interface ParsedDocument {
  readonly services: ServiceSpec[];
  readonly problems: RouteProblem[];
}

/** By extension: .toml, .yaml/.yml, .json. */
export function formatFromPath(path: string): DocumentFormat | undefined {
  return formatOfPath(path);
}

/** By media type, parameters ignored: application/json, application/toml, (application|text)/(x-)yaml. */
export function formatFromContentType(ct: string): DocumentFormat | undefined {
  const type = (ct.split(";")[0] ?? "").trim().toLowerCase();
  if (type === "application/json" || type.endsWith("+json") || type === "text/json") return "json";
  if (type === "application/toml" || type === "text/toml" || type === "application/x-toml") {
    return "toml";
  }
  if (/^(application|text)\/(x-)?yaml$/.test(type) || type.endsWith("+yaml")) return "yaml";
  return undefined;
}

const TOP_KEYS = ["services", "$schema"];
/** An optional BOM and whitespace only; stops at the first other character (no copy). */
const BLANK = /^\uFEFF?\s*$/;

/** The last TOML pieces of the most recent sources (a file path, an HTTP URL), oldest first. */
const tomlCaches = new Map<string, TomlPieceCache>();
const TOML_CACHE_SOURCES = 8;

function tomlCacheFor(source: string): TomlPieceCache {
  let c = tomlCaches.get(source);
  if (c) tomlCaches.delete(source); // re-inserted below: most recent last
  else c = { pieces: new Map() };
  tomlCaches.set(source, c);
  if (tomlCaches.size > TOML_CACHE_SOURCES) {
    tomlCaches.delete(tomlCaches.keys().next().value as string);
  }
  return c;
}

function parseData(text: string, format: DocumentFormat, source: string): unknown {
  if (format === "toml") {
    const fast = parseTomlServices(text, tomlCacheFor(source));
    if (fast !== undefined) return fast;
  }
  return parseText(text, format);
}

/**
 * Parses and validates a routing document. Throws SluiceError("ROUTING",
 * "<source>:<line>:<column>: <message>") when the text does not parse or is not a routing
 * document (the caller then keeps the previous routing). An empty document is no services.
 */
export function parseRoutingDocument(
  text: string,
  format: DocumentFormat,
  source: string,
): ParsedDocument {
  // Whitespace only (a truncated or fresh file) is "no services" in every format.
  if (BLANK.test(text)) return { services: [], problems: [] };
  let data: unknown;
  try {
    data = parseData(text, format, source);
  } catch (err) {
    if (err instanceof TextSyntaxError) {
      throw new SluiceError("ROUTING", `${source}:${err.line}:${err.column}: ${err.reason}`, {
        cause: err,
      });
    }
    throw err;
  }
  // An empty YAML document is null; an empty JSON text does not parse (handled above).
  if (data === null || data === undefined) return { services: [], problems: [] };
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new SluiceError(
      "ROUTING",
      `${source}:1:1: expected a table with a "services" list at the top level, got ${show(data)}`,
    );
  }
  const top = data as Record<string, unknown>;
  const problems: RouteProblem[] = [];
  for (const key of Object.keys(top)) {
    if (!TOP_KEYS.includes(key)) {
      problems.push({
        service: "(document)",
        field: key,
        reason: `unknown top-level key, ignored${hint(key, TOP_KEYS)}`,
        source,
      });
    }
  }
  const services = top.services;
  if (services === undefined) {
    // A document that is not empty but lacks `services` is most likely a mistake (a main config
    // passed as routing, or a misspelt key): refuse it rather than remove every route.
    if (Object.keys(top).length === 0) return { services: [], problems };
    throw new SluiceError(
      "ROUTING",
      `${source}:1:1: expected a "services" list at the top level${
        hint(Object.keys(top)[0] ?? "", ["services"])
      }`,
    );
  }
  if (!Array.isArray(services)) {
    throw new SluiceError(
      "ROUTING",
      `${source}:1:1: expected "services" to be a list, got ${show(services)}`,
    );
  }
  const parsed = validateServices(services, source);
  return { services: parsed.services, problems: [...problems, ...parsed.problems] };
}
