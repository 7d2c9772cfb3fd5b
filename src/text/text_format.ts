// TOML, YAML and JSON text to plain data, with the line and column of any syntax error.
// Used for the main config and for routing documents alike.
import { parse as parseToml, TomlError } from "smol-toml";
import {
  Composer,
  type CST,
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
 * How deeply lists and tables may nest, in every format (the top-level table is level 1, so
 * `services = [...]` is level 2). Deeper text is a located syntax error, the same on Deno and
 * Bun: the parsers recurse, and without a limit the depth at which they run out of stack (and
 * so whether a document parses at all) differs between the runtimes.
 */
export const MAX_NESTING = 256;
const NESTING = `lists and tables nested deeper than ${MAX_NESTING} levels`;

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
  let data: unknown;
  try {
    // smol-toml's limit covers inline arrays and tables (under the top-level table).
    data = parseToml(text, { maxDepth: MAX_NESTING - 1 });
  } catch (err) {
    if (err instanceof TomlError) {
      const reason = /excessively nested/.test(err.message)
        ? NESTING
        : firstLine(err.message).replace(/^Invalid TOML document: /, "");
      throw new TextSyntaxError(reason, err.line, err.column);
    }
    throw err;
  }
  // Dotted keys and table headers nest without smol-toml's limit, and carry no position.
  checkNesting(data, () => new TextSyntaxError(NESTING, 1, 1));
  return plain(data);
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

/**
 * Throws `fail()` when lists and tables in `data` nest deeper than MAX_NESTING (a cycle does).
 * Iterative; dates are values, not tables.
 */
function checkNesting(data: unknown, fail: () => Error): void {
  const stack: [unknown, number][] = [[data, 1]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [v, depth] = top;
    if (typeof v !== "object" || v === null || v instanceof Date) continue;
    if (depth > MAX_NESTING) throw fail();
    for (const x of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof x === "object" && x !== null) stack.push([x, depth + 1]);
    }
  }
}

function parseYamlText(text: string): unknown {
  // Composed from the token stream ourselves (what parseDocument does) so that the nesting
  // limit is checked on each token before the recursive composer sees it: past a few thousand
  // levels the composer runs out of stack at a depth that differs between runtimes.
  const composer = new Composer({ uniqueKeys: true });
  const docs: YamlDocument.Parsed[] = [];
  for (const doc of composer.compose(yamlTokens(text), true, text.length)) {
    docs.push(doc);
    if (docs.length > 1) break;
  }
  const [doc, extra] = docs as [YamlDocument.Parsed, YamlDocument.Parsed | undefined];
  const err = doc.errors[0];
  if (err) throw yamlError(text, err.pos[0], firstLine(err.message));
  if (extra) throw yamlError(text, extra.range[0], "a second document in the stream (only one)");
  const firstAlias = checkAliases(text, doc);
  try {
    const data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    // Aliases can nest deeper than the text does.
    checkNesting(data, () => yamlError(text, firstAlias ?? 0, NESTING));
    return data;
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

/** YAML's CST, one top-level token at a time, refusing a collection nested too deep. */
function* yamlTokens(text: string): Generator<CST.Token> {
  for (const token of new Parser().parse(text)) {
    // An explicit stack: the CST of a deep document is itself deep.
    const stack: [CST.Token, number][] = [[token, 0]];
    for (let top = stack.pop(); top; top = stack.pop()) {
      const [t, depth] = top;
      if (t.type === "document") {
        if (t.value) stack.push([t.value, depth]);
      } else if (t.type === "block-map" || t.type === "block-seq" || t.type === "flow-collection") {
        if (depth >= MAX_NESTING) throw yamlError(text, t.offset, NESTING);
        // Reversed, so the first too-deep collection in the text is the one reported.
        for (let k = t.items.length - 1; k >= 0; k--) {
          const item = t.items[k]!;
          if (item.value) stack.push([item.value, depth + 1]);
          if (item.key) stack.push([item.key, depth + 1]);
        }
      }
    }
    yield token;
  }
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
  if (!jsonTooDeep(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // located below
    }
  }
  // Neither runtime reports a position portably (Bun gives none), so find it ourselves.
  const { offset, reason } = findJsonError(text);
  const { line, column } = lineColumn(text, offset);
  throw new TextSyntaxError(reason, line, column);
}

/** Whether brackets outside strings nest deeper than MAX_NESTING (a quick scan, no parse). */
function jsonTooDeep(text: string): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // a string: skip to its closing quote
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_NESTING) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * Scans JSON and returns the offset and reason of the first syntax error, counting lists and
 * objects nested deeper than `maxDepth` as one; { offset: 0, reason: "invalid JSON" } when
 * there is none. Iterative (an explicit stack), so any input gives an answer.
 */
export function findJsonError(
  text: string,
  maxDepth = MAX_NESTING,
): { offset: number; reason: string } {
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
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m || m[0] === "-" || m[0] === "") stop(`unexpected ${shown()}`);
    i += (m as RegExpExecArray)[0].length;
  };
  /** A key and its colon, before an object member's value. */
  const key = () => {
    ws();
    if (text[i] !== '"') stop(`expected a string key, got ${shown()}`);
    str();
    ws();
    if (text[i] !== ":") stop(`expected ":", got ${shown()}`);
    i++;
  };
  /** The closing bracket of each open list ("]") and object ("}"), innermost last. */
  const open: string[] = [];
  try {
    for (;;) {
      // A value.
      ws();
      const c = text[i];
      if (c === "{" || c === "[") {
        if (open.length >= maxDepth) stop(`lists and tables nested deeper than ${maxDepth} levels`);
        const close = c === "{" ? "}" : "]";
        i++;
        ws();
        if (text[i] !== close) {
          open.push(close);
          if (close === "}") key();
          continue; // to the first member's value
        }
        i++; // an empty list or object
      } else if (c === '"') str();
      else if (text.startsWith("true", i)) i += 4;
      else if (text.startsWith("false", i)) i += 5;
      else if (text.startsWith("null", i)) i += 4;
      else if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) num();
      else stop(`unexpected ${shown()}`);
      // After a value: close what ends here, up to the next member.
      for (;;) {
        const close = open[open.length - 1];
        ws();
        if (close === undefined) {
          if (i < text.length) stop(`unexpected ${shown()} after the end of the document`);
          return { offset: 0, reason: "invalid JSON" };
        }
        if (text[i] === ",") {
          i++;
          ws();
          if (text[i] === close) stop(`trailing comma before "${close}"`);
          if (close === "}") key();
          break;
        }
        if (text[i] !== close) stop(`expected "," or "${close}", got ${shown()}`);
        i++;
        open.pop();
      }
    }
  } catch (e) {
    if (e instanceof Stop) return { offset: e.offset, reason: e.reason };
    throw e;
  }
}
