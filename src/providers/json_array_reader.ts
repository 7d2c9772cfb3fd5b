// A reader for a JSON list that is fetched again and again and mostly repeats itself: Consul's
// check list holds one element per check (5,000 and more, 1.6 MB), and a round differs from the
// last in one or two of them. Parsing the whole text each round made a tree of ~100,000 objects
// that was garbage at once; in a process whose heap holds thousands of listeners, collecting it
// cost more than the parse (bench/README.md, "The Consul provider at 5,000 services").
//
// So the text is cut into its elements where one object ends and the next begins (`},{`), and an
// element whose text was in the last answer reuses what `summarise` made of it then; only the new
// elements are parsed. The cut is checked, not trusted: every piece must parse on its own as one
// JSON value, and then `[` p1 `,` p2 ... `]` is by the JSON grammar the array of those values,
// exactly what JSON.parse of the whole would give. A text the cut does not fit (`},{` inside a
// string or a nested list of objects, whitespace between elements, anything not a list of
// objects) falls back to JSON.parse of the whole, so the answer is the same either way.

/** What became of one answer: the summaries, or `undefined` when the JSON is not a list. */
export type ArrayReader<T> = (text: string) => T[] | undefined;

interface Kept<T> {
  readonly summary: T | undefined;
  /** The last answer the element was in. */
  seen: number;
}

/** A copy of `s` that shares no storage with the string it was cut from. */
function ownCopy(s: string): string {
  return JSON.parse(JSON.stringify(s));
}

/**
 * A reader that keeps, between calls, each element's text and summary. `summarise` gets each
 * parsed element and returns what the caller needs of it (`undefined`: nothing; skipped). A
 * text that is not JSON throws JSON.parse's SyntaxError.
 */
export function createArrayReader<T>(
  summarise: (element: unknown) => T | undefined,
): ArrayReader<T> {
  // Keyed by an own copy of each element's text: a slice would keep its whole answer alive.
  // One map, kept and swept, rather than a new one per answer (fewer objects to collect).
  const kept = new Map<string, Kept<T>>();
  let answers = 0;

  function wholeParse(text: string): T[] | undefined {
    kept.clear();
    const body: unknown = JSON.parse(text);
    if (!Array.isArray(body)) return undefined;
    const out: T[] = [];
    for (const element of body) {
      const s = summarise(element);
      if (s !== undefined) out.push(s);
    }
    return out;
  }

  return (body) => {
    // A trailing newline (an encoder's) is allowed; JSON whitespace is all at or below 0x20.
    const text = body.charCodeAt(body.length - 1) <= 0x20 ? body.trimEnd() : body;
    const last = text.length - 1;
    // Only a compact list of objects is cut; anything else is parsed whole.
    if (text[0] !== "[" || text[last] !== "]" || text[1] !== "{" || text[last - 1] !== "}") {
      return wholeParse(text);
    }
    const answer = ++answers;
    const out: T[] = [];
    let start = 1;
    while (start < last) {
      const sep = text.indexOf("},{", start);
      const end = sep < 0 ? last : sep + 1;
      const piece = text.slice(start, end);
      let k = kept.get(piece);
      if (k === undefined) {
        let element: unknown;
        try {
          element = JSON.parse(piece);
        } catch {
          return wholeParse(text); // the cut fell inside a string or a nested value
        }
        k = { summary: summarise(element), seen: answer };
        kept.set(ownCopy(piece), k);
      }
      k.seen = answer;
      if (k.summary !== undefined) out.push(k.summary);
      start = end + 1;
    }
    for (const [piece, k] of kept) if (k.seen !== answer) kept.delete(piece);
    return out;
  };
}
