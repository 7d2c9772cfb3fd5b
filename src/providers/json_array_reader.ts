// A reader for a JSON list that is fetched again and again and mostly repeats itself: Consul's
// check list holds one element per check (5,000 and more, 1.6 MB), and a round differs from the
// last in one or two of them. Parsing the whole text each round made a tree of ~100,000 objects
// that was garbage at once; in a process whose heap holds thousands of listeners, collecting it
// cost more than the parse (bench/README.md, "The Consul provider at 5,000 services").
//
// So the answer's bytes are cut into elements where one object ends and the next begins
// (`},{`), and an element whose bytes were in the last answer reuses what `summarise` made of it
// then; only the new elements are decoded and parsed. The bytes are never decoded as a whole:
// a 1.6 MB string a round, alive when the collector ran, was promoted and filled Bun's old space
// until a full collection (bench/README.md). The cut is checked, not trusted: every piece must
// parse on its own as one JSON value, and then `[` p1 `,` p2 ... `]` is by the JSON grammar the
// array of those values, exactly what JSON.parse of the whole would give. A text the cut does not
// fit (`},{` inside a string or a nested list of objects, whitespace between elements, anything
// not a list of objects) falls back to JSON.parse of the whole, so the answer is the same either
// way. `},{` are ASCII bytes, which never occur inside a UTF-8 sequence, so a piece decodes to
// exactly its part of the whole text.

/** What became of one answer: the summaries, or `undefined` when the JSON is not a list. */
export type ArrayReader<T> = (bytes: Uint8Array) => T[] | undefined;

interface Kept<T> {
  /** An own copy of the element's bytes (a view would keep its whole answer alive). */
  readonly bytes: Uint8Array;
  readonly summary: T | undefined;
  /** The last answer the element was in. */
  seen: number;
  /** The element after it in the last answer: where the next one is looked for first. */
  next: Kept<T> | undefined;
  /** Another kept element with the same hash. */
  sameHash: Kept<T> | undefined;
}

const OPEN_LIST = 0x5b; // [
const CLOSE_LIST = 0x5d; // ]
const OPEN_OBJECT = 0x7b; // {
const CLOSE_OBJECT = 0x7d; // }
const COMMA = 0x2c;

/** The four bytes JSON counts as whitespace: space, line feed, carriage return, tab. */
function isJsonWhitespace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** FNV-1a over bytes[start, end): only finds candidates, which are then compared byte by byte. */
function hashOf(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h;
}

function sameBytes(bytes: Uint8Array, start: number, end: number, kept: Uint8Array): boolean {
  if (kept.length !== end - start) return false;
  for (let i = 0; i < kept.length; i++) if (kept[i] !== bytes[start + i]) return false;
  return true;
}

/**
 * A reader that keeps, between calls, each element's bytes and summary. `summarise` gets each
 * parsed element and returns what the caller needs of it (`undefined`: nothing; skipped). Bytes
 * that are not JSON throw JSON.parse's SyntaxError. The bytes are only read during the call: the
 * caller may reuse their buffer afterwards.
 */
export function createArrayReader<T>(
  summarise: (element: unknown) => T | undefined,
): ArrayReader<T> {
  // Kept and swept rather than made anew per answer (fewer objects to collect).
  const byHash = new Map<number, Kept<T>>();
  let count = 0;
  let first: Kept<T> | undefined;
  let answers = 0;
  const decoder = new TextDecoder();

  function forgetAll(): void {
    byHash.clear();
    count = 0;
    first = undefined;
  }

  function wholeParse(bytes: Uint8Array): T[] | undefined {
    forgetAll();
    const body: unknown = JSON.parse(decoder.decode(bytes));
    if (!Array.isArray(body)) return undefined;
    const out: T[] = [];
    for (const element of body) {
      const s = summarise(element);
      if (s !== undefined) out.push(s);
    }
    return out;
  }

  function find(bytes: Uint8Array, start: number, end: number, hash: number) {
    for (let k = byHash.get(hash); k; k = k.sameHash) {
      if (sameBytes(bytes, start, end, k.bytes)) return k;
    }
    return undefined;
  }

  /** Drops what the last answer did not hold. */
  function sweep(answer: number): void {
    for (const [hash, head] of byHash) {
      let keep: Kept<T> | undefined;
      for (let k: Kept<T> | undefined = head; k;) {
        const after: Kept<T> | undefined = k.sameHash;
        if (k.seen === answer) {
          k.sameHash = keep;
          keep = k;
        } else count--;
        k = after;
      }
      if (keep) byHash.set(hash, keep);
      else byHash.delete(hash);
    }
  }

  return (body) => {
    // A trailing newline (an encoder's) is allowed, as JSON allows whitespace there.
    let length = body.length;
    while (length > 0 && isJsonWhitespace(body[length - 1]!)) length--;
    const bytes = length === body.length ? body : body.subarray(0, length);
    const last = length - 1;
    // Only a compact list of objects is cut; anything else is parsed whole.
    if (
      length < 4 || bytes[0] !== OPEN_LIST || bytes[last] !== CLOSE_LIST ||
      bytes[1] !== OPEN_OBJECT || bytes[last - 1] !== CLOSE_OBJECT
    ) {
      return wholeParse(bytes);
    }
    const answer = ++answers;
    const out: T[] = [];
    let expected = first;
    let previous: Kept<T> | undefined;
    let distinct = 0;
    let start = 1;
    while (start < last) {
      let end = bytes.indexOf(CLOSE_OBJECT, start);
      while (
        end >= 0 && end < last - 1 && !(bytes[end + 1] === COMMA && bytes[end + 2] === OPEN_OBJECT)
      ) {
        end = bytes.indexOf(CLOSE_OBJECT, end + 1);
      }
      end = end < 0 || end >= last - 1 ? last : end + 1;
      // Most elements stand where they stood in the last answer, after the same neighbour.
      let k = expected && sameBytes(bytes, start, end, expected.bytes) ? expected : undefined;
      if (k === undefined) {
        const hash = hashOf(bytes, start, end);
        k = find(bytes, start, end, hash);
        if (k === undefined) {
          let element: unknown;
          try {
            element = JSON.parse(decoder.decode(bytes.subarray(start, end)));
          } catch {
            return wholeParse(bytes); // the cut fell inside a string or a nested value
          }
          k = {
            bytes: bytes.slice(start, end),
            summary: summarise(element),
            seen: 0,
            next: undefined,
            sameHash: byHash.get(hash),
          };
          byHash.set(hash, k);
          count++;
        }
      }
      expected = k.next;
      if (k.seen !== answer) {
        k.seen = answer;
        distinct++;
        if (previous) previous.next = k;
        else first = k;
        previous = k;
      }
      if (k.summary !== undefined) out.push(k.summary);
      start = end + 1;
    }
    if (previous) previous.next = undefined;
    if (distinct !== count) sweep(answer);
    return out;
  };
}
