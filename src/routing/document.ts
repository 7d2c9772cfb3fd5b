// A routing document (TOML, YAML or JSON text) to validated services, or a located parse error.
import { SluiceError } from "../errors.ts";
import { parseText, TextSyntaxError } from "../text/text_format.ts";
import { formatFromPath as formatOfPath } from "../text/text_format.ts";
import { hint } from "../text/did_you_mean.ts";
import { show } from "../text/issues.ts";
import { validateServices } from "./service.ts";
import { createTomlPieceParser, type TomlPieceParser } from "./toml_services.ts";
import { createServiceValidator } from "./validator.ts";
import type { ParsedDocument, RouteProblem } from "./types.ts";

export type DocumentFormat = "toml" | "yaml" | "json";

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

function parseData(
  text: string,
  format: DocumentFormat,
  toml: TomlPieceParser | undefined,
): unknown {
  if (format === "toml" && toml) {
    const fast = toml.parse(text);
    if (fast !== undefined) return fast;
  }
  return parseText(text, format);
}

/** Parses a document and validates its services with `validate`; see parseRoutingDocument. */
function parseDocument(
  text: string,
  format: DocumentFormat,
  source: string,
  toml: TomlPieceParser | undefined,
  validate: (raw: readonly unknown[]) => ParsedDocument,
): ParsedDocument {
  // Whitespace only (a truncated or fresh file) is "no services" in every format.
  if (BLANK.test(text)) return { services: [], problems: [] };
  let data: unknown;
  try {
    data = parseData(text, format, toml);
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
    // `{}` is kept as "no services" (a generator's empty answer), with a warning: dill
    // requires `services`, so a dill user's `{}` is most likely a mistake too.
    if (Object.keys(top).length === 0) {
      const notice = `${source}: the document is an empty table without a "services" list; ` +
        `read as no services (dill requires "services": write "services = []" or {"services": []})`;
      return { services: [], problems, notices: [notice] };
    }
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
  const parsed = validate(services);
  return { services: parsed.services, problems: [...problems, ...parsed.problems] };
}

/**
 * Parses and validates a routing document. Throws SluiceError("ROUTING",
 * "<source>:<line>:<column>: <message>") when the text does not parse or is not a routing
 * document (the caller then keeps the previous routing). An empty document is no services.
 * Pure; createDocumentParser() gives the same result for successive versions of one document
 * while reusing the work done on the previous one.
 */
export function parseRoutingDocument(
  text: string,
  format: DocumentFormat,
  source: string,
): ParsedDocument {
  return parseDocument(text, format, source, undefined, (raw) => validateServices(raw, source));
}

/** Parses successive versions of the routing document of one source (a file, an HTTP URL). */
export interface DocumentParser {
  /** What parseRoutingDocument(text, format, source) gives (or throws). */
  parse(text: string, format: DocumentFormat): ParsedDocument;
  /** How many TOML parses re-used which path (tests and profiling look). */
  readonly stats: TomlPieceParser["stats"];
}

/**
 * One parser per provider (per source): a TOML document is re-parsed piecewise after an edit,
 * and services whose raw object did not change are handed on as the same ServiceSpec objects
 * without being validated again, which lets a table builder skip them as well.
 */
export function createDocumentParser(source: string): DocumentParser {
  const toml = createTomlPieceParser();
  const validator = createServiceValidator(source);
  return {
    parse: (text, format) => parseDocument(text, format, source, toml, validator.validate),
    stats: toml.stats,
  };
}
