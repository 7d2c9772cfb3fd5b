// Re-parsing a large TOML routing document after a small edit: the text is cut at each
// `[[services]]` header and each piece is parsed on its own, reusing the previous version's
// result for every piece whose text did not change. One edit in a 5,000-service file then costs
// one small parse instead of the whole document (and hands unchanged services on as the same
// objects, which lets validation and the table builder skip them too).
//
// Only a document made of a prefix without `services` followed by `[[services]]` pieces that
// each hold nothing but service entries takes this path; anything else (a piece that does not
// parse on its own, such as a multi-line string that contains a `[[services]]` line, or another
// table after a service) returns undefined and the caller parses the whole text, which also
// gives syntax errors their true line numbers.
import { parseText } from "../text/text_format.ts";

const HEADER = "[[services]]";

/** Re-parses versions of one document piecewise; owned by whoever reads that document. */
export interface TomlPieceParser {
  /**
   * The document's data as a whole-text parse would give it, or undefined when the text is not
   * in the shape described at the top of the file. Remembers this version's pieces on success.
   * The `services` list is the parser's own: read it, never change it.
   */
  parse(text: string): Record<string, unknown> | undefined;
  /** How many pieces are remembered. */
  readonly size: number;
  /** How many parses took which path (tests and profiling look). */
  readonly stats: { readonly diff: number; readonly pieces: number };
}

/** A document cut into pieces: the prefix (index 0) and each `[[services]]` piece. */
interface PieceLayout {
  readonly text: string;
  /** Where each piece starts (starts[0] = 0). */
  readonly starts: number[];
  /** The prefix object, then the service entries of each piece. */
  readonly values: unknown[];
  /** Every piece's entries in order; `values` flattened. */
  readonly services: unknown[];
}

/** Where each `[[services]]` piece starts: every line that begins with the header. */
function headerStarts(text: string): number[] {
  const starts = text.startsWith(HEADER) ? [0] : [];
  for (let i = 0;;) {
    const at = text.indexOf("\n" + HEADER, i);
    if (at < 0) return starts;
    starts.push(at + 1);
    i = at + 1 + HEADER.length;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The service entries of one `[[services]]` piece, or undefined when it holds anything else. */
function servicesOf(piece: string): unknown[] | undefined {
  let data: unknown;
  try {
    data = parseText(piece, "toml");
  } catch {
    return undefined;
  }
  if (!isPlainObject(data)) return undefined;
  const keys = Object.keys(data);
  if (keys.length !== 1 || keys[0] !== "services") return undefined;
  const s = data.services;
  return Array.isArray(s) && s.length > 0 ? s : undefined;
}

/** The prefix before the first `[[services]]`, or undefined when it defines `services` itself. */
function prefixOf(piece: string): Record<string, unknown> | undefined {
  let data: unknown;
  try {
    data = parseText(piece, "toml");
  } catch {
    return undefined;
  }
  if (!isPlainObject(data) || Object.hasOwn(data, "services")) return undefined;
  return data;
}

export function createTomlPieceParser(): TomlPieceParser {
  /** Piece text -> parsed piece (a prefix object, or the service entries of one piece). */
  let pieces = new Map<string, unknown>();
  /** The previous version, piece by piece, for a text diff against it. */
  let prev: PieceLayout | undefined;
  const stats = { diff: 0, pieces: 0 };

  function parse(text: string): Record<string, unknown> | undefined {
    const quick = prev && fromPrevious(prev, text);
    prev = undefined;
    if (quick) {
      stats.diff++;
      prev = quick;
      return { ...(quick.values[0] as Record<string, unknown>), services: quick.services };
    }
    const starts = headerStarts(text);
    if (starts.length === 0) return undefined; // no [[services]]: nothing to gain
    const next = new Map<string, unknown>();
    const head = text.slice(0, starts[0]);
    const prefix = pieces.get(head) ?? prefixOf(head);
    if (prefix === undefined) return undefined;
    next.set(head, prefix);
    const values: unknown[] = [prefix];
    for (let k = 0; k < starts.length; k++) {
      const piece = text.slice(starts[k], starts[k + 1] ?? text.length);
      // A piece repeated within the document is parsed again: two services must never be one
      // object (the table builder tells members apart by identity).
      const parsed = (next.has(piece) ? undefined : pieces.get(piece)) ?? servicesOf(piece);
      if (parsed === undefined) return undefined;
      next.set(piece, parsed);
      values.push(parsed);
    }
    stats.pieces++;
    pieces = next;
    const services = flatten(values, 1, values.length);
    prev = { text, starts: [0, ...starts], values, services };
    return { ...prefix, services };
  }

  return {
    parse,
    get size() {
      return pieces.size;
    },
    stats,
  };
}

/** The service entries of pieces [from, to) in order. */
function flatten(values: readonly unknown[], from: number, to: number): unknown[] {
  const out: unknown[] = [];
  for (let k = from; k < to; k++) for (const s of values[k] as unknown[]) out.push(s);
  return out;
}

/** How many service entries pieces [from, to) hold. */
function count(values: readonly unknown[], from: number, to: number): number {
  let n = 0;
  for (let k = from; k < to; k++) n += (values[k] as unknown[]).length;
  return n;
}

/** How many leading UTF-16 units `a` and `b` share (whole blocks compared natively first). */
function commonPrefix(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  for (let step = 4096; i < n;) {
    const len = Math.min(step, n - i);
    if (a.slice(i, i + len) !== b.slice(i, i + len)) {
      if (len <= 64) break;
      step = len >> 4;
      continue;
    }
    i += len;
  }
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** How many trailing units `a` and `b` share, at most `max`. */
function commonSuffix(a: string, b: string, max: number): number {
  let i = 0;
  for (let step = 4096; i < max;) {
    const len = Math.min(step, max - i);
    if (a.slice(a.length - i - len, a.length - i) !== b.slice(b.length - i - len, b.length - i)) {
      if (len <= 64) break;
      step = len >> 4;
      continue;
    }
    i += len;
  }
  while (i < max && a.charCodeAt(a.length - 1 - i) === b.charCodeAt(b.length - 1 - i)) i++;
  return i;
}

/**
 * The new layout from the previous one when the texts differ in one region: the pieces wholly
 * before and after it (with the header that bounds them) are kept, only the region's pieces are
 * parsed. Undefined when a region piece does not parse alone or no `[[services]]` piece is left
 * (the whole-text path decides, exactly as for a fresh parse).
 */
function fromPrevious(prev: PieceLayout, text: string): PieceLayout | undefined {
  const old = prev.text;
  const head = commonPrefix(old, text);
  if (head === old.length && head === text.length) return prev;
  const tail = commonSuffix(old, text, Math.min(old.length, text.length) - head);
  const { starts, values } = prev;
  const shift = text.length - old.length;
  // Kept before: piece i whose end, and the header right after it, lie in the common head.
  let a = 0;
  while (a + 1 < starts.length && starts[a + 1]! + HEADER.length <= head) a++;
  // Kept after: pieces from b on, whose "\n" + header start lies in the common tail.
  let b = starts.length;
  while (b - 1 > a && b - 1 >= 1 && starts[b - 1]! - 1 >= old.length - tail) b--;
  const from = starts[a]!; // the first piece to parse again (same place in both texts)
  const to = b < starts.length ? starts[b]! + shift : text.length;
  const newStarts = starts.slice(0, a);
  const newValues = values.slice(0, a);
  // Header starts inside [from, to) of the new text.
  const cuts: number[] = [from];
  for (let i = from;;) {
    const at = text.indexOf("\n" + HEADER, i);
    if (at < 0 || at + 1 >= to) break;
    if (at + 1 > from) cuts.push(at + 1);
    i = at + 1;
  }
  if (a === 0 && text.startsWith(HEADER) && cuts[1] !== 0) {
    // The document now starts with a header: the prefix is empty.
    cuts.unshift(0);
  }
  for (let k = 0; k < cuts.length; k++) {
    const start = cuts[k]!;
    const piece = text.slice(start, cuts[k + 1] ?? to);
    const index = newStarts.length;
    const parsed = index === 0 ? prefixOf(piece) : servicesOf(piece);
    if (parsed === undefined) return undefined;
    newStarts.push(start);
    newValues.push(parsed);
  }
  const middle = flatten(newValues, Math.max(a, 1), newValues.length);
  for (let k = b; k < starts.length; k++) {
    newStarts.push(starts[k]! + shift);
    newValues.push(values[k]);
  }
  // No `[[services]]` left (a document of top-level keys only, or with its headers commented
  // out): not this path's shape. A fresh parse leaves it to the whole-text parse, which refuses
  // a document without `services`; "no services" from here would close every listener.
  if (newStarts.length < 2) return undefined;
  // The kept pieces' entries are runs of the previous list: copied natively, not piece by piece.
  const before = a <= 1 ? 0 : prev.services.length - count(values, a, values.length);
  const after = b >= values.length ? 0 : count(values, b, values.length);
  const services = prev.services.slice(0, before).concat(
    middle,
    prev.services.slice(prev.services.length - after),
  );
  return { text, starts: newStarts, values: newValues, services };
}
