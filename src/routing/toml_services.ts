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
import { parseText } from "../config/text_format.ts";

const HEADER = "[[services]]";

/** Parsed pieces by their exact text, for the documents of a few sources. */
export interface TomlPieceCache {
  /** Piece text -> parsed piece (a prefix object, or the service entries of one piece). */
  pieces: Map<string, unknown>;
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

/**
 * The document's data as a whole-text parse would give it, or undefined when the text is not
 * in the shape described at the top of the file. `cache` holds the previous version's pieces
 * and is replaced by this version's on success.
 */
export function parseTomlServices(
  text: string,
  cache: TomlPieceCache,
): Record<string, unknown> | undefined {
  const starts = headerStarts(text);
  if (starts.length === 0) return undefined; // no [[services]]: nothing to gain
  const next = new Map<string, unknown>();
  const head = text.slice(0, starts[0]);
  const prefix = cache.pieces.get(head) ?? prefixOf(head);
  if (prefix === undefined) return undefined;
  next.set(head, prefix);
  const services: unknown[] = [];
  for (let k = 0; k < starts.length; k++) {
    const piece = text.slice(starts[k], starts[k + 1] ?? text.length);
    // A piece repeated within the document is parsed again: two services must never be one
    // object (the table builder tells members apart by identity).
    const parsed = (next.has(piece) ? undefined : cache.pieces.get(piece)) ?? servicesOf(piece);
    if (parsed === undefined) return undefined;
    next.set(piece, parsed);
    for (const s of parsed as unknown[]) services.push(s);
  }
  cache.pieces = next;
  return { ...prefix, services };
}
