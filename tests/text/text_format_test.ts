// TOML/YAML/JSON text with located syntax errors; the JSON scanner agrees with JSON.parse.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  findJsonError,
  MAX_ALIAS_COUNT,
  MAX_NESTING,
  parseText,
  TextSyntaxError,
} from "../../src/text/text_format.ts";

function located(f: () => unknown): TextSyntaxError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof TextSyntaxError, String(e));
    return e;
  }
  assert.fail("expected a syntax error");
}

describe("parseText()", () => {
  it("reads the same data from the three formats", () => {
    const want = { a: { b: [1, "x", true] } };
    assert.deepEqual(parseText('[a]\nb = [1, "x", true]\n', "toml"), want);
    assert.deepEqual(parseText("a:\n  b: [1, x, true]\n", "yaml"), want);
    assert.deepEqual(parseText('{"a": {"b": [1, "x", true]}}', "json"), want);
  });
  it("ignores a byte order mark", () => {
    assert.deepEqual(parseText('\uFEFF{"a": 1}', "json"), { a: 1 });
    assert.deepEqual(parseText("\uFEFFa = 1", "toml"), { a: 1 });
  });
  it("locates TOML errors", () => {
    const e = located(() => parseText("a = 1\nb = \n", "toml"));
    assert.deepEqual([e.line, e.column], [2, 5]);
    assert.equal(e.message, `2:5: ${e.reason}`);
    const dup = located(() => parseText("a = 1\na = 2\n", "toml"));
    assert.equal(dup.line, 2);
  });
  it("locates YAML errors, duplicate keys included", () => {
    assert.deepEqual(
      [
        located(() => parseText("a: 1\na: 2\n", "yaml")).line,
        located(() => parseText("a: 1\na: 2\n", "yaml")).column,
      ],
      [2, 1],
    );
    assert.equal(located(() => parseText("a:\n  - [1, 2\n", "yaml")).line >= 2, true);
  });
  it("locates JSON errors", () => {
    const cases: [string, number, number, RegExp][] = [
      ['{"a": 1,}', 1, 9, /trailing comma/],
      ['{\n  "a": tru\n}', 2, 8, /unexpected "t"/],
      ['{\n  "a": 1\n  "b": 2\n}', 3, 3, /expected "," or "}"/],
      ['["a\\x"]', 1, 5, /bad escape/],
      ['{"a"}', 1, 5, /expected ":"/],
      ["", 1, 1, /unexpected end/],
      ["01", 1, 2, /after the end/],
    ];
    for (const [text, line, column, re] of cases) {
      const e = located(() => parseText(text, "json"));
      assert.deepEqual([e.line, e.column], [line, column], text);
      assert.match(e.reason, re);
    }
  });
  it("the JSON scanner finds an error exactly when JSON.parse throws", () => {
    const tokens = [
      "{",
      "}",
      "[",
      "]",
      ",",
      ":",
      '"k"',
      "1",
      "-2.5e3",
      "true",
      "null",
      " ",
      "\n",
      '"\\u00e9"',
      "x",
      "01",
    ];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...tokens), { maxLength: 12 }), (parts) => {
        const text = parts.join("");
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        const found = findJsonError(text).reason !== "invalid JSON";
        assert.equal(found, !valid, JSON.stringify(text));
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        assert.equal(findJsonError(JSON.stringify(v, null, 1)).reason, "invalid JSON");
      }),
      { numRuns: 300 },
    );
  });
});

describe("parseText() and YAML aliases", () => {
  it("locates an alias without an anchor (the yaml package throws a bare ReferenceError)", () => {
    const e = located(() => parseText("log: *a\n", "yaml"));
    assert.deepEqual([e.line, e.column], [1, 6]);
    assert.match(e.reason, /alias \*a has no anchor &a/);
    // An anchor after the alias does not count (YAML resolves to the last anchor before it).
    assert.deepEqual(located(() => parseText("x: 1\nb: *y\nc: &y 2\n", "yaml")).line, 2);
  });
  it("refuses an alias inside the collection it names (cyclic data)", () => {
    const e = located(() => parseText("a: &x\n  b: *x\n", "yaml"));
    assert.deepEqual([e.line, e.column], [2, 6]);
    assert.match(e.reason, /inside the collection/);
    assert.match(located(() => parseText("a: &x [1, [*x]]\n", "yaml")).reason, /inside/);
  });
  it("still resolves aliases to an earlier anchor", () => {
    assert.deepEqual(parseText("a: &x [1, {b: 2}]\nc: *x\n", "yaml"), {
      a: [1, { b: 2 }],
      c: [1, { b: 2 }],
    });
  });
  it("refuses an alias bomb (billion laughs) at once, with a clear error", () => {
    // 10 levels of 10 aliases each: 10^10 leaves if expanded.
    let text = `l0: &l0 [${Array(10).fill("lol").join(", ")}]\n`;
    for (let k = 1; k <= 10; k++) {
      text += `l${k}: &l${k} [${Array(10).fill(`*l${k - 1}`).join(", ")}]\n`;
    }
    const e = located(() => parseText(text, "yaml"));
    assert.match(e.reason, /aliases expand to too much data/);
    assert.match(e.reason, new RegExp(`more than ${MAX_ALIAS_COUNT}`));
    assert.equal(e.line, 2, "at the first alias");
  });
});

describe("parseText() nesting limit", () => {
  const deep = {
    json: (n: number) => "[".repeat(n) + "]".repeat(n),
    yaml: (n: number) => "[".repeat(n) + "]".repeat(n),
    toml: (n: number) => `a = ${"[".repeat(n - 1)}${"]".repeat(n - 1)}\n`,
  } as const;
  for (const format of ["json", "yaml", "toml"] as const) {
    it(`${format}: ${MAX_NESTING} levels parse, one more is a located error`, () => {
      parseText(deep[format](MAX_NESTING), format);
      const e = located(() => parseText(deep[format](MAX_NESTING + 1), format));
      assert.equal(e.line, 1);
      assert.match(e.reason, new RegExp(`nested deeper than ${MAX_NESTING} levels`));
    });
    it(`${format}: 100,000 levels, closed or not, give the same located error`, () => {
      const n = 100_000;
      const open = deep[format](n).replace(/\]+\n?$/, "");
      for (const text of [deep[format](n), open]) {
        const e = located(() => parseText(text, format));
        assert.match(e.reason, /nested deeper than/, format);
        assert.equal(e.line, 1);
      }
    });
  }
  it("counts block YAML, TOML dotted keys and table headers too", () => {
    const block = "- ".repeat(MAX_NESTING) + "x\n";
    assert.ok(Array.isArray(parseText(block, "yaml")));
    assert.match(located(() => parseText("- " + block, "yaml")).reason, /nested deeper/);
    const keys = (n: number) => Array(n).fill("a").join(".");
    parseText(`${keys(MAX_NESTING)} = 1\n`, "toml");
    assert.match(located(() => parseText(`${keys(100_000)} = 1\n`, "toml")).reason, /nested/);
    assert.match(located(() => parseText(`[${keys(100_000)}]\n`, "toml")).reason, /nested/);
  });
  it("counts aliases that nest deeper than the text", () => {
    let text = "a0: &a0 [x]\n";
    for (let k = 1; k <= MAX_NESTING; k++) text += `a${k}: &a${k} [*a${k - 1}]\n`;
    // Refused either as too deep or as too many alias uses; never a stack overflow.
    located(() => parseText(text, "yaml"));
  });
  it("findJsonError is iterative: 1,000,000 open brackets are no stack overflow", () => {
    const text = "[".repeat(1_000_000);
    assert.equal(findJsonError(text, Infinity).reason, "unexpected end of input");
    assert.equal(findJsonError(text, Infinity).offset, text.length);
    assert.equal(findJsonError(text).offset, MAX_NESTING);
  });
});
