// TOML, YAML and JSON text to plain data, with the line and column of any syntax error.
// Used for the main config and for routing documents alike.
import { parse as parseToml, TomlError } from "smol-toml";
import { parseDocument } from "yaml";
import { SluiceError } from "../errors.ts";

export type TextFormat = "toml" | "yaml" | "json";

/**
 * A syntax error at a 1-based line and column: the SluiceError with code "CONFIG" (a file
 * that cannot be used at all, exit 2) that also carries where it is.
 */
export class TextSyntaxError extends SluiceError {
  readonly line: number;
  readonly column: number;
  readonly reason: string;
  constructor(reason: string, line: number, column: number) {
    super("CONFIG", `${line}:${column}: ${reason}`);
    this.name = "TextSyntaxError";
    this.reason = reason;
    this.line = line;
    this.column = column;
  }
}

/** The format implied by a file name's extension, if any. */
export function formatFromPath(path: string): TextFormat | undefined {
  const m = /\.([a-z]+)$/i.exec(path);
  switch (m?.[1]?.toLowerCase()) {
    case "toml":
      return "toml";
    case "yaml":
    case "yml":
      return "yaml";
    case "json":
      return "json";
    default:
      return undefined;
  }
}

/** Parses text in the given format; throws TextSyntaxError with line and column. */
export function parseText(text: string, format: TextFormat): unknown {
  // A BOM would otherwise be a syntax error in TOML and JSON.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  switch (format) {
    case "toml":
      return parseTomlText(body);
    case "yaml":
      return parseYamlText(body);
    case "json":
      return parseJsonText(body);
  }
}

function firstLine(message: string): string {
  return (message.split("\n")[0] ?? message).trim();
}

function parseTomlText(text: string): unknown {
  try {
    return plain(parseToml(text));
  } catch (err) {
    if (err instanceof TomlError) {
      const reason = firstLine(err.message).replace(/^Invalid TOML document: /, "");
      throw new TextSyntaxError(reason, err.line, err.column);
    }
    throw err;
  }
}

/** smol-toml gives null-prototype tables and TomlDate objects: make them plain data. */
function plain(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

function parseYamlText(text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    const reason = firstLine(err.message).replace(/ at line \d+, column \d+:?$/, "");
    throw new TextSyntaxError(reason, pos?.line ?? 1, pos?.col ?? 1);
  }
  return doc.toJS({ maxAliasCount: 100 });
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === "\n") (line++, (lineStart = i + 1));
  }
  return { line, column: offset - lineStart + 1 };
}

function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Neither runtime reports a position portably (Bun gives none), so find it ourselves.
    const { offset, reason } = findJsonError(text);
    const { line, column } = lineColumn(text, offset);
    throw new TextSyntaxError(reason, line, column);
  }
}

/** Scans JSON and returns the offset and reason of the first syntax error. */
export function findJsonError(text: string): { offset: number; reason: string } {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i] as string)) i++;
  };
  class Stop extends Error {
    constructor(readonly offset: number, readonly reason: string) {
      super(reason);
    }
  }
  const stop = (reason: string): never => {
    throw new Stop(i, i >= text.length ? "unexpected end of input" : reason);
  };
  const shown = () => JSON.stringify(text[i] ?? "");
  const str = () => {
    i++; // opening quote
    while (i < text.length) {
      const c = text[i] as string;
      if (c === '"') return void i++;
      if (c === "\\") {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) (i++, stop("bad \\u escape"));
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else (i++, stop("bad escape in string"));
      } else if (c.charCodeAt(0) < 0x20) stop("control character in string");
      else i++;
    }
    stop("unterminated string");
  };
  const num = () => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m || m[0] === "-" || m[0] === "") stop(`unexpected ${shown()}`);
    i += (m as RegExpExecArray)[0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') stop(`expected a string key, got ${shown()}`);
        str();
        ws();
        if (text[i] !== ":") stop(`expected ":", got ${shown()}`);
        i++;
        value();
        ws();
        if (text[i] === ",") (i++, ws(), text[i] === "}" && stop('trailing comma before "}"'));
        else if (text[i] === "}") return void i++;
        else stop(`expected "," or "}", got ${shown()}`);
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ",") (i++, ws(), text[i] === "]" && stop('trailing comma before "]"'));
        else if (text[i] === "]") return void i++;
        else stop(`expected "," or "]", got ${shown()}`);
      }
    }
    if (c === '"') return str();
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, i)) return void (i += word.length);
    }
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return num();
    stop(`unexpected ${shown()}`);
  };
  try {
    value();
    ws();
    if (i < text.length) stop(`unexpected ${shown()} after the end of the document`);
    return { offset: 0, reason: "invalid JSON" };
  } catch (e) {
    if (e instanceof Stop) return { offset: e.offset, reason: e.reason };
    throw e;
  }
}
