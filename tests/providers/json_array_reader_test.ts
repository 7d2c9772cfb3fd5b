// The element-wise list reader: whatever the text, it answers what JSON.parse of the whole
// would, and between answers it parses only the elements whose text is new.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createArrayReader } from "../../src/providers/json_array_reader.ts";

const enc = new TextEncoder();

/** A reader fed text, as the bytes of an answer would come. */
function textReader<T>(
  summarise: (e: unknown) => T | undefined,
): (text: string) => T[] | undefined {
  const read = createArrayReader(summarise);
  return (text) => read(enc.encode(text));
}

/** The plain reading the reader must equal: JSON.parse, then each element summarised. */
function plain<T>(text: string, summarise: (e: unknown) => T | undefined): T[] | undefined {
  const body: unknown = JSON.parse(text);
  if (!Array.isArray(body)) return undefined;
  return body.map(summarise).filter((s) => s !== undefined);
}

/** A compact JSON list of the given element texts: `[` e1 `,` e2 ... `]`. */
function joinList(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(
    2 + parts.reduce((n, p) => n + p.length + 1, 0) - (parts.length ? 1 : 0),
  );
  out[0] = 0x5b;
  let at = 1;
  parts.forEach((p, i) => {
    if (i > 0) out[at++] = 0x2c;
    out.set(p, at);
    at += p.length;
  });
  out[at] = 0x5d;
  return out;
}

/** Elements that put `},{` where the cut must not fall: in strings and in nested lists. */
const awkward = fc.constantFrom<unknown>(
  { s: "},{" },
  { s: '"},{"x":1}' },
  { list: [{ a: 1 }, { b: 2 }] },
  { nested: { deeper: [{}, {}] } },
  { "},{": "key" },
  {},
  [],
  [{}, {}],
  "},{",
  null,
  0,
);
const element = fc.oneof(
  fc.record({ Node: fc.string(), ModifyIndex: fc.nat(), Tags: fc.array(fc.string()) }),
  awkward,
  fc.jsonValue({ maxDepth: 3 }),
);
/** A list, sometimes pretty or with a trailing newline, sometimes not a list at all. */
const answer = fc.oneof(
  { weight: 6, arbitrary: fc.array(element, { maxLength: 8 }).map((l) => JSON.stringify(l)) },
  fc.array(element, { maxLength: 4 }).map((l) => JSON.stringify(l, null, 2)),
  fc.array(element, { maxLength: 4 }).map((l) => `${JSON.stringify(l)}\n`),
  fc.jsonValue().map((v) => JSON.stringify(v)),
);

describe("json array reader", () => {
  it("reads every answer as JSON.parse would, one answer after another", () => {
    const summarise = (e: unknown) => e === null ? undefined : { e };
    const read = textReader(summarise);
    fc.assert(
      fc.property(fc.array(answer, { minLength: 1, maxLength: 5 }), (answers) => {
        for (const text of answers) assert.deepEqual(read(text), plain(text, summarise), text);
      }),
      { numRuns: 300 },
    );
  });

  it("parses only the elements whose text is new since the last answer", () => {
    const seen: unknown[] = [];
    const read = textReader((e) => {
      seen.push(e);
      return e;
    });
    const list = [{ id: 1, v: "a" }, { id: 2, v: "b" }, { id: 3, v: "c" }];
    assert.deepEqual(read(JSON.stringify(list)), list);
    assert.equal(seen.length, 3);
    seen.length = 0;
    const next = [list[0], { id: 2, v: "B" }, list[2], { id: 4, v: "d" }];
    assert.deepEqual(read(JSON.stringify(next)), next);
    assert.deepEqual(seen, [{ id: 2, v: "B" }, { id: 4, v: "d" }]);
    // An element that left and came back is new again: only the last answer is kept.
    seen.length = 0;
    assert.deepEqual(read(JSON.stringify(list)), list);
    assert.deepEqual(seen, [{ id: 2, v: "b" }]);
    // The same element twice in one answer is parsed once.
    seen.length = 0;
    assert.deepEqual(read(JSON.stringify([list[0], { id: 9 }, { id: 9 }])), [
      list[0],
      { id: 9 },
      { id: 9 },
    ]);
    assert.deepEqual(seen, [{ id: 9 }]);
  });

  it("answers undefined for JSON that is no list and throws for text that is no JSON", () => {
    const read = textReader((e) => e);
    assert.equal(read('{"a":1}'), undefined);
    assert.equal(read("null"), undefined);
    assert.deepEqual(read("[]"), []);
    for (const bad of ["", "[", '[{"a":1},{', '[{"a":1},{"b":}]', "[{}]x", "<html>"]) {
      assert.throws(() => read(bad), SyntaxError, bad);
    }
    // A failed answer leaves the reader working.
    assert.deepEqual(read('[{"a":1},{"b":2}]'), [{ a: 1 }, { b: 2 }]);
  });

  it("reads answers that reorder, repeat and drop kept elements, from one reused buffer", () => {
    // The provider reads every answer into the same buffer: what the reader keeps must be its
    // own copy, and the order it remembers is a hint only. Elements hold text that is not
    // ASCII, and bytes that are not UTF-8, which decode to U+FFFD as in a whole decode.
    const summarise = (e: unknown) => ({ e });
    const strange = fc.constantFrom(
      enc.encode('{"s":"naïve ☃ 𝄞"}'),
      Uint8Array.of(...enc.encode('{"s":"'), 0xff, 0xc3, ...enc.encode('"}')),
      Uint8Array.of(...enc.encode('{"s":"'), 0xe2, 0x98, ...enc.encode('"}')), // cut short
    );
    const piece = fc.oneof(
      element.map((e) => enc.encode(JSON.stringify(e))),
      strange,
    );
    fc.assert(
      fc.property(
        fc.array(piece, { minLength: 1, maxLength: 6 }),
        fc.array(fc.array(fc.nat({ max: 5 }), { maxLength: 8 }), { minLength: 1, maxLength: 6 }),
        (pool, answers) => {
          const read = createArrayReader(summarise);
          const buffer = new Uint8Array(4096);
          for (const picks of answers) {
            const parts = picks.map((i) => pool[i % pool.length]!);
            const bytes = joinList(parts);
            buffer.fill(0x20);
            buffer.set(bytes);
            const view = buffer.subarray(0, bytes.length);
            let want: unknown;
            try {
              want = plain(new TextDecoder().decode(bytes), summarise);
            } catch (err) {
              assert.throws(() => read(view), (err as Error).constructor as typeof Error);
              continue;
            }
            assert.deepEqual(read(view), want, new TextDecoder().decode(bytes));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("tells apart two elements whose hashes collide", () => {
    // FNV-1a 32 gives both the same hash: a lookup by hash alone would confuse them.
    const a = { k: 422789 };
    const b = { k: 639192 };
    const seen: unknown[] = [];
    const read = textReader((e) => {
      seen.push(e);
      return e;
    });
    assert.deepEqual(read(JSON.stringify([a, b])), [a, b]);
    assert.deepEqual(read(JSON.stringify([b, a, b])), [b, a, b]);
    assert.deepEqual(read(JSON.stringify([b])), [b]);
    assert.deepEqual(read(JSON.stringify([a, b])), [a, b]);
    assert.deepEqual(seen, [a, b, a]);
  });

  it("allows only JSON's whitespace after the list, as JSON.parse does", () => {
    const read = textReader((e) => e);
    assert.deepEqual(read('[{"a":1}] \n\r\t'), [{ a: 1 }]);
    for (const bad of ['[{"a":1}]\u0001', '[{"a":1}]\u00a0', '[{"a":1}]\u2028']) {
      assert.throws(() => JSON.parse(bad), SyntaxError);
      assert.throws(() => read(bad), SyntaxError, JSON.stringify(bad));
    }
  });

  it("keeps no old answer alive through the bytes it keeps", () => {
    // A kept element's bytes must be a copy: a view holds the whole answer it was cut from,
    // and each 1 MB answer with one new element stayed alive. Garbage not yet collected
    // grows RSS too, but levels off; what is kept alive grows with every answer, so the growth
    // is taken between answer 100 and answer 300.
    const items = Array.from(
      { length: 4000 },
      (_, i) => JSON.stringify({ i, pad: "x".repeat(240) }),
    );
    const read = textReader((e) => e);
    let base = 0;
    for (let r = 0; r < 300; r++) {
      if (r === 100) base = process.memoryUsage().rss;
      items[r] = JSON.stringify({ i: r, round: r, pad: "y".repeat(240) });
      assert.equal(read(`[${items.join(",")}]`)?.length, 4000);
    }
    // Measured: Deno 9 MiB, Bun 15-27 MiB; without the copy, Bun 223-275 MiB.
    const grown = (process.memoryUsage().rss - base) / 2 ** 20;
    assert.ok(grown < 100, `RSS grew ${grown.toFixed(0)} MiB over 200 answers of 1 MB`);
  });
});
