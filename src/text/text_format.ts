// TOML, YAML and JSON text to plain data, with the line and column of any syntax error.
// Used for the main config and for routing documents alike.
import { parse as parseToml, TomlError } from "smol-toml";
import {
  Composer,
  type Document as YamlDocument,
  isAlias,
  isCollection,
  isNode,
  isPair,
  Parser,
} from "yaml";
import { SluiceError } from "../errors.ts";

export type TextFormat = "toml" | "yaml" | "json";

/**
 * How often a YAML anchor's content may be used through aliases (weighted by how deeply
 * aliases nest), so that a small "billion laughs" document cannot expand to huge data.
 */
export const MAX_ALIAS_COUNT = 100;

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
  // Composed from the token stream ourselves (what parseDocument does) to work out line and
  // column from the errors' offsets.
  const composer = new Composer({ uniqueKeys: true });
  const docs: YamlDocument.Parsed[] = [];
  for (const doc of composer.compose(new Parser().parse(text), true, text.length)) {
    docs.push(doc);
    if (docs.length > 1) break;
  }
  const [doc, extra] = docs as [YamlDocument.Parsed, YamlDocument.Parsed | undefined];
  const err = doc.errors[0];
  if (err) throw yamlError(text, err.pos[0], firstLine(err.message));
  if (extra) throw yamlError(text, extra.range[0], "a second document in the stream (only one)");
  const firstAlias = checkAliases(text, doc);
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    if (e instanceof TextSyntaxError) throw e;
    // The yaml package refuses an alias bomb ("billion laughs") here with a ReferenceError.
    const reason = /excessive alias count/i.test(String((e as Error)?.message))
      ? `aliases expand to too much data (more than ${MAX_ALIAS_COUNT} uses of one anchor's ` +
        `content): refused as a possible "billion laughs" document`
      : firstLine(String((e as Error)?.message ?? e));
    throw yamlError(text, firstAlias ?? 0, reason);
  }
}

/** The yaml package's parse errors carry an offset; line and column are ours to work out. */
function yamlError(text: string, offset: number, reason: string): TextSyntaxError {
  const { line, column } = lineColumn(text, offset);
  return new TextSyntaxError(reason, line, column);
}

/**
 * Refuses, at the alias, one whose anchor is not defined before it (the yaml package would
 * throw a bare ReferenceError from toJS()) and one inside the collection its anchor names
 * (which would make cyclic data). Returns the offset of the first alias, if any.
 */
function checkAliases(text: string, doc: YamlDocument.Parsed): number | undefined {
  let first: number | undefined;
  const anchors = new Map<string, unknown>();
  // Pre-order, as the yaml package resolves aliases: the last anchor of a name before the alias.
  // EXIT on the stack marks where the collection last pushed on `path` ends.
  const path: unknown[] = [];
  const stack: unknown[] = [doc.contents];
  while (stack.length) {
    const node = stack.pop();
    if (node === EXIT) {
      path.pop();
      continue;
    }
    if (isAlias(node)) {
      const offset = node.range?.[0] ?? 0;
      first ??= offset;
      const target = anchors.get(node.source);
      if (target === undefined) {
        throw yamlError(
          text,
          offset,
          `alias *${node.source} has no anchor &${node.source} before it`,
        );
      }
      if (path.includes(target)) {
        throw yamlError(text, offset, `alias *${node.source} is inside the collection it names`);
      }
      continue;
    }
    if (isPair(node)) {
      stack.push(node.value, node.key);
      continue;
    }
    if (!isNode(node)) continue;
    if (node.anchor) anchors.set(node.anchor, node);
    if (isCollection(node)) {
      path.push(node);
      stack.push(EXIT);
      for (let k = node.items.length - 1; k >= 0; k--) stack.push(node.items[k]);
    }
  }
  return first;
}
const EXIT = Symbol("exit");

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
