// Property tests (fast-check) for the parsers that read text from outside (issue 12, fault
// suite): the main config loader (TOML, YAML, JSON files) and routing documents (TOML, YAML,
// JSON). Arbitrary input (random text, mutated valid documents, random shapes with the real
// keys) gives a value or a SluiceError, never another kind of throw. A hang fails the test by
// its timeout. Consul/Nomad JSON and HTTP provider bodies are covered with the providers' own
// tests; the PROXY and SOCKS5 decoders in wire_parsers_property_test.ts.
//
// Run counts are kept modest (a few hundred per property) to fit the suite's time budget;
// FAULTS_PROPERTY_RUNS=N raises them for a longer local run.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { stringify as toToml } from "smol-toml";
import { stringify as toYaml } from "yaml";
import { SluiceError } from "../../src/errors.ts";
import { loadConfig } from "../../src/config/load.ts";
import { parseText } from "../../src/text/text_format.ts";
import { createDocumentParser, parseRoutingDocument } from "../../src/routing/document.ts";
import type { ParsedDocument } from "../../src/routing/types.ts";
import { ROOT, tempDir } from "../_support/helpers.ts";
import { RUNS, valueOrSluiceError } from "./_property.ts";

type Format = "toml" | "yaml" | "json";
const FORMATS: Format[] = ["toml", "yaml", "json"];

// ---------------------------------------------------------------- text generators

/** Random text: printable ASCII with the characters these formats care about, or any unicode. */
const anyText = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.array(
    fc.constantFrom(
      "[",
      "]",
      "{",
      "}",
      "[[services]]",
      "services",
      "=",
      ":",
      "- ",
      ",",
      '"',
      "'",
      "\n",
      "  ",
      "#",
      "&a",
      "*a",
      "!!str",
      "\\",
      "\uFEFF",
      "0x",
      "1e999",
      "true",
      "null",
      "listener",
      "local:8080",
    ),
    { maxLength: 80 },
  ).map((parts) => parts.join("")),
);

type Mutation = [number, number, string, number];

/** k edits of `base`: delete a slice, insert text, duplicate/drop/comment out a line, truncate. */
function mutate(base: string, edits: readonly Mutation[]): string {
  let t = base;
  for (const [a, b, ins, kind] of edits) {
    const i = t.length ? a % t.length : 0;
    const j = t.length ? Math.min(t.length, i + (b % 40)) : 0;
    const lines = t.split("\n");
    const li = lines.length ? a % lines.length : 0;
    switch (kind) {
      case 0:
        t = t.slice(0, i) + t.slice(j);
        break;
      case 1:
        t = t.slice(0, i) + ins + t.slice(i);
        break;
      case 2:
        lines.splice(li, 0, lines[li] ?? "");
        t = lines.join("\n");
        break;
      case 3:
        lines.splice(li, 1);
        t = lines.join("\n");
        break;
      case 5:
        // comment a line out (a `[[services]]` header, say)
        lines[li] = "# " + (lines[li] ?? "");
        t = lines.join("\n");
        break;
      default:
        t = t.slice(0, i);
    }
  }
  return t;
}

const mutations = fc.array(
  fc.tuple(fc.nat(), fc.nat(), fc.string({ maxLength: 12 }), fc.integer({ min: 0, max: 5 })),
  { minLength: 1, maxLength: 4 },
);

/** Plausible values for a key: strings that look right, numbers, wrong types, nesting. */
const fieldValue = fc.oneof(
  fc.constantFrom(
    "local:8080",
    "local:70000",
    "nowhere:1",
    "127.0.0.1:9",
    "[::1]:80",
    "socks5://u:p@127.0.0.1:1080",
    "socks5://u:se/cret@127.0.0.1:1080",
    "round_robin",
    "hash",
    "first_bytes:0-4",
    "1s",
    "-1s",
    "99999999h",
    "v1",
    "v2",
    "",
  ),
  fc.integer({ min: -70000, max: 70000 }),
  fc.boolean(),
  fc.jsonValue({ maxDepth: 2 }),
);

const SERVICE_KEYS = [
  "name",
  "listener",
  "listeners",
  "backends",
  "proxy",
  "balance",
  "hash_key",
  "connect_timeout",
  "connect_attempts",
  "idle_timeout",
  "max_connections",
  "proxy_protocol",
  "accept_proxy_protocol",
  "trusted_proxies",
  "health",
];

const backendValue = fc.oneof(
  fieldValue,
  fc.record({ address: fieldValue, weight: fieldValue, tier: fieldValue, drain: fieldValue }, {
    requiredKeys: [],
  }),
);

const serviceShape = fc.dictionary(
  fc.oneof(fc.constantFrom(...SERVICE_KEYS), fc.string({ maxLength: 8 })),
  fc.oneof(fieldValue, fc.array(backendValue, { maxLength: 4 })),
  { maxKeys: 8 },
);

const routingShape = fc.oneof(
  fc.record({ services: fc.array(serviceShape, { maxLength: 4 }) }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }),
  fc.jsonValue({ maxDepth: 3 }),
);

const CONFIG_KEYS: Record<string, string[]> = {
  listeners: ["allowed", "port_min", "port_max", "drain_timeout", "bind_retry"],
  admin: ["listener", "token"],
  peek: ["listener"],
  log: ["level", "format", "access"],
  defaults: SERVICE_KEYS,
  runtime: ["workers", "gomaxprocs"],
  routing: ["file", "http", "consul", "nomad"],
};

const configShape = fc.dictionary(
  fc.oneof(fc.constantFrom(...Object.keys(CONFIG_KEYS)), fc.string({ maxLength: 8 })),
  fc.oneof(
    fc.dictionary(
      fc.constantFrom(...Object.values(CONFIG_KEYS).flat(), "path", "address", "endpoint"),
      fc.oneof(fieldValue, fc.dictionary(fc.string({ maxLength: 6 }), fieldValue)),
      { maxKeys: 5 },
    ),
    fieldValue,
  ),
  { maxKeys: 5 },
);

/** The shape as text in `format`; undefined when the format cannot hold it (TOML and null). */
function serialise(data: unknown, format: Format): string | undefined {
  try {
    if (format === "json") return JSON.stringify(data, null, 1);
    if (format === "yaml") return toYaml(data);
    return toToml(data as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

function example(name: string): string {
  return readFileSync(join(ROOT, "configs", name), "utf8");
}

// ---------------------------------------------------------------- routing documents

describe("property: routing documents", () => {
  for (const format of FORMATS) {
    const base = example(`routing.${format}`);
    const parse = (text: string, source = `prop.${format}`) =>
      valueOrSluiceError(() => parseRoutingDocument(text, format, source), "ROUTING");

    it(`${format}: random text gives services or a ROUTING error`, { timeout: 60_000 }, () => {
      fc.assert(
        fc.property(anyText, (text) => {
          const r = parse(text);
          if (!(r instanceof SluiceError)) assert.ok(Array.isArray(r.services));
        }),
        { numRuns: RUNS },
      );
    });

    it(`${format}: mutated example documents`, { timeout: 60_000 }, () => {
      fc.assert(
        fc.property(mutations, (edits) => {
          const text = mutate(base, edits);
          const r = parse(text);
          if (r instanceof SluiceError) assert.match(r.message, /:\d+:\d+: /, "a located error");
        }),
        { numRuns: RUNS },
      );
    });

    it(`${format}: random shapes with the real keys`, { timeout: 60_000 }, () => {
      fc.assert(
        fc.property(routingShape, (data) => {
          const text = serialise(data, format);
          if (text === undefined) return;
          const r = parse(text);
          if (!(r instanceof SluiceError)) {
            for (const s of r.services) assert.equal(typeof s, "object");
          }
        }),
        { numRuns: RUNS },
      );
    });
  }

  it("deep nesting (100,000 levels) is the same located ROUTING error in every format", {
    timeout: 60_000,
  }, () => {
    // Past MAX_NESTING (256) levels every format gives one answer, on Deno and Bun alike: the
    // recursive parsers used to run out of stack at a depth that differs between the runtimes
    // (1,000 YAML levels parsed on Bun and failed on Deno; 100,000 JSON levels threw RangeError).
    const cases: [Format, string, number, number][] = [
      ["json", '{"services":', 100_000, 12],
      ["yaml", "services: ", 100_000, 10],
      ["toml", "services = ", 100_000, 11],
      ["yaml", "services: ", 1_000, 10],
    ];
    for (const [f, prefix, n, at] of cases) {
      for (const nest of ["[".repeat(n), "[".repeat(n) + "]".repeat(n)]) {
        // A bare nest is a document in JSON and YAML (in TOML, a malformed table header).
        const texts: [string, number][] = [[prefix + nest, at + 256]];
        if (f !== "toml") texts.push([nest, 257]);
        for (const [text, column] of texts) {
          const r = valueOrSluiceError(() => parseRoutingDocument(text, f, `deep.${f}`), "ROUTING");
          assert.ok(r instanceof SluiceError, `${f} ${n}`);
          assert.equal(
            r.message,
            `deep.${f}:1:${column}: lists and tables nested deeper than 256 levels`,
          );
        }
      }
    }
    // Block YAML and TOML dotted keys nest too.
    const block = valueOrSluiceError(
      () => parseRoutingDocument("services:\n" + "  - ".repeat(10_000) + "x\n", "yaml", "b.yaml"),
      "ROUTING",
    );
    assert.match(String(block), /nested deeper than 256 levels/);
    const dotted = valueOrSluiceError(
      () => parseRoutingDocument(`services = []\n${"a.".repeat(100_000)}b = 1\n`, "toml", "d.toml"),
      "ROUTING",
    );
    assert.match(String(dotted), /nested deeper than 256 levels/);
  });

  // One parser (one source) for every run, as a file provider holds it: each run parses the
  // example, then a mutated version of it, so the piecewise TOML path re-parses from a good
  // document (and from the previous run's mutant). It must give exactly what a fresh parse
  // gives: it once took a document without `[[services]]` (top-level keys only, or the header
  // commented out) for "no services", which closes every listener, where a fresh parse refuses.
  it("toml: the incremental parser agrees with the generic one on mutated documents", {
    timeout: 60_000,
  }, () => {
    const base = example("routing.toml");
    const source = "agree.toml";
    const parser = createDocumentParser(source);
    const outcome = (f: () => ParsedDocument) => {
      const r = valueOrSluiceError(f, "ROUTING");
      return r instanceof SluiceError ? { error: r.message } : r;
    };
    fc.assert(
      fc.property(fc.boolean(), mutations, (fromBase, edits) => {
        const text = mutate(base, edits);
        if (fromBase) assert.ok(!("error" in outcome(() => parser.parse(base, "toml"))));
        const cached = outcome(() => parser.parse(text, "toml"));
        assert.deepEqual(cached, outcome(() => parseRoutingDocument(text, "toml", source)), text);
        let data: unknown;
        try {
          data = parseText(text, "toml");
        } catch {
          assert.ok("error" in cached, "what smol-toml rejects is rejected");
          return;
        }
        const generic = outcome(() => parseRoutingDocument(JSON.stringify(data), "json", source));
        if ("error" in generic) {
          assert.ok("error" in cached, `both reject: ${generic.error}`);
        } else {
          assert.ok(!("error" in cached), `both accept: ${JSON.stringify(cached)}`);
          assert.deepEqual(cached.services, generic.services);
        }
      }),
      { numRuns: RUNS },
    );
    assert.ok(parser.stats.diff > RUNS / 4, `${parser.stats.diff} piecewise re-parses`);
  });
});

// ---------------------------------------------------------------- main config files

/** Loads `text` as a config file; only a CONFIG SluiceError may come out. */
async function load(text: string, path: string): Promise<void> {
  writeFileSync(path, text);
  try {
    await loadConfig({ path, env: {} });
  } catch (err) {
    if (!(err instanceof SluiceError)) {
      throw new Error(`loadConfig threw ${(err as Error)?.name}: ${err}\n--- text:\n${text}`);
    }
    assert.equal(err.code, "CONFIG");
  }
}

describe("property: main config files", () => {
  for (const format of FORMATS) {
    const base = example(`config.${format}`);

    it(
      `${format}: random text, mutated examples and random shapes give a config or a CONFIG error`,
      {
        timeout: 120_000,
      },
      async () => {
        const d = await tempDir("sluice-prop-config-");
        const path = join(d.path, `config.${format}`);
        try {
          const input = fc.oneof(
            anyText,
            mutations.map((edits) => mutate(base, edits)),
            configShape.map((data) => serialise(data, format) ?? ""),
          );
          await fc.assert(
            fc.asyncProperty(input, (text) => {
              return load(text, path);
            }),
            { numRuns: RUNS },
          );
        } finally {
          await d.remove();
        }
      },
    );
  }
});
