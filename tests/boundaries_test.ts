// The layering of src/ as a fact: no import cycle between files or between top-level folders,
// Deno./Bun. only under src/runtime/, the pure layers import no I/O and no upper layer, nothing
// below the CLI imports admin or cli, files stay small and the pure layers keep no module state.
// Each failure names the offending file and import.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");
const SRC = join(ROOT, "src");

/** Layers, lowest first; a unit may import its own unit and any lower layer, never a higher one. */
const LAYERS: readonly (readonly string[])[] = [
  ["errors.ts", "log.ts", "version.ts", "defaults.ts", "runtime/types.ts"],
  ["text", "net"],
  ["runtime"],
  ["routing"],
  ["config"],
  ["balancer", "socks5", "health"],
  ["proxy"],
  ["providers"],
  ["admin"],
  ["cli"],
];
/** Units whose code must stay pure: no I/O module, no runtime adapter, no module-level state. */
const PURE: ReadonlySet<string> = new Set([
  "text",
  "net",
  "routing",
  "balancer",
  "config",
  "defaults.ts",
]);
/** The config files that may do I/O (reading the config file is the loader's job). */
const PURE_EXCEPTIONS: ReadonlySet<string> = new Set(["config/read.ts"]);
const IO_MODULES =
  /^(node:)?(fs|fs\/promises|net|tls|dgram|child_process|dns|http|https|http2|os|worker_threads|cluster)$/;
const MAX_LINES = 400;

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

interface Import {
  readonly spec: string;
  readonly typeOnly: boolean;
}

/** Static and dynamic imports and re-exports of one file (comments stripped first). */
function importsOf(text: string): Import[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: Import[] = [];
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'"]*?\sfrom\s+)?["']([^"']+)["']/g;
  for (let m; (m = re.exec(code));) out.push({ spec: m[3]!, typeOnly: Boolean(m[2]) });
  const dyn = /\bimport\(\s*["']([^"']+)["']\s*\)/g;
  for (let m; (m = dyn.exec(code));) out.push({ spec: m[1]!, typeOnly: false });
  return out;
}

/** "runtime/types.ts", "errors.ts" or the top-level folder of a path relative to src/. */
function unitOf(rel: string): string {
  if (rel === "runtime/types.ts") return rel;
  const slash = rel.indexOf("/");
  return slash < 0 ? rel : rel.slice(0, slash);
}

function layerOf(unit: string): number {
  const i = LAYERS.findIndex((l) => l.includes(unit));
  return i;
}

const files = walk(SRC).map((abs) => relative(SRC, abs).replaceAll("\\", "/"));
const graph = new Map<string, { rel: string; imp: Import }[]>();
for (const rel of files) {
  const text = readFileSync(join(SRC, rel), "utf8");
  const edges: { rel: string; imp: Import }[] = [];
  for (const imp of importsOf(text)) {
    if (!imp.spec.startsWith(".")) continue;
    const target = relative(SRC, resolve(dirname(join(SRC, rel)), imp.spec)).replaceAll("\\", "/");
    edges.push({ rel: target, imp });
  }
  graph.set(rel, edges);
}

/** Every elementary cycle found by DFS, as a readable path (one per back edge). */
function cycles(nodes: Iterable<string>, next: (n: string) => Iterable<string>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 1);
    stack.push(n);
    for (const m of next(n)) {
      const s = state.get(m);
      if (s === 1) found.push([...stack.slice(stack.indexOf(m)), m]);
      else if (s === undefined) visit(m);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of nodes) if (!state.has(n)) visit(n);
  return found;
}

/** The names a file exports itself (declarations and local `export { a, b as c }`). */
function exportsOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  const decl =
    /^export\s+(?:declare\s+)?(?:default\s+)?(?:async\s+)?(?:abstract\s+)?(?:function\*?|class|const|let|var|interface|type|enum)\s+([A-Za-z_$][\w$]*)/gm;
  for (let m; (m = decl.exec(code));) out.push(m[1]!);
  const list = /^export\s+(?:type\s+)?\{([^}]*)\}\s*(from\s*["'][^"']+["'])?/gm;
  for (let m; (m = list.exec(code));) {
    for (const part of m[1]!.split(",")) {
      const name = part.trim().replace(/^type\s+/, "").split(/\s+as\s+/).pop()!.trim();
      if (name) out.push(name);
    }
  }
  return out;
}

/** The names one file takes from each module it imports or re-exports (by specifier). */
function importedNames(text: string): { spec: string; names: string[] | "*" }[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: { spec: string; names: string[] | "*" }[] = [];
  const named = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?([^'";]*?)\s*from\s+["']([^"']+)["']/g;
  for (let m; (m = named.exec(code));) {
    if (/\*/.test(m[1]!)) {
      out.push({ spec: m[2]!, names: "*" });
      continue;
    }
    const braces = /\{([^}]*)\}/.exec(m[1]!);
    const names = braces
      ? braces[1]!.split(",").map((p) => p.trim().replace(/^type\s+/, "").split(/\s+as\s+/)[0]!)
        .filter(Boolean)
      : [];
    out.push({ spec: m[2]!, names });
  }
  // `(await import("./x.ts")).name` and `const { a, b } = await import("./x.ts")`
  const dyn = /(?:\{([^}]*)\}\s*=\s*)?\(?await\s+import\(\s*["']([^"']+)["']\s*\)\)?(?:\.(\w+))?/g;
  for (let m; (m = dyn.exec(code));) {
    const names = m[1] ? m[1].split(",").map((p) => p.trim().split(/\s*:\s*/)[0]!) : [];
    if (m[3]) names.push(m[3]);
    out.push({ spec: m[2]!, names: names.length > 0 ? names : "*" });
  }
  return out;
}

/**
 * Exports kept although no other file of src/, main.ts, scripts/ or bench/ imports them,
 * because they are a deliberate contract (key: "file relative to src/#name" or "file#*").
 */
const PUBLIC_EXPORTS: ReadonlySet<string> = new Set([
  // The runtime contract: every adapter implements it whole, callers use what they need.
  "runtime/types.ts#*",
  // Wire codecs are kept whole: the server halves are the tests' fake proxies and the
  // property tests' round trips, and they share the frame code with the client half.
  "socks5/codec.ts#ATYP_IPV4",
  "socks5/codec.ts#ATYP_IPV6",
  "socks5/codec.ts#encodeMethodSelection",
  "socks5/codec.ts#encodeReply",
  "socks5/codec.ts#encodeUserPassReply",
  "socks5/codec.ts#parseGreeting",
  "socks5/codec.ts#parseRequest",
  "socks5/codec.ts#parseUserPass",
  "proxy/proxy_protocol.ts#V1_MAX",
  "proxy/proxy_protocol.ts#V2_MAX",
  "proxy/proxy_protocol.ts#decodeProxyHeader",
  "proxy/proxy_protocol.ts#encodeProxyV2Local",
  // The log sink is where tests capture lines; its health is what a dead stderr leaves behind.
  "log.ts#logSink",
  "log.ts#logSinkHealth",
  // Pure seams that the code uses itself and a unit test pins down by table or property
  // (the alternative, testing them only through a socket or a whole app, is slower and vaguer).
  "admin/exposition.ts#escapeLabelValue",
  "admin/metrics.ts#CONNECTION_BUCKETS",
  "admin/metrics.ts#CONNECT_BUCKETS",
  "admin/peek.ts#formatPeek",
  "balancer/hash.ts#clientKey",
  "balancer/hash.ts#murmur3",
  "cli/app.ts#startApp",
  "cli/state_file.ts#loadState",
  "cli/state_file.ts#saveState",
  "cli/state_file.ts#startStateSaver",
  "cli/import/index.ts#convertImport",
  "config/layers.ts#envNames",
  "config/resolve.ts#DEFAULT_CONFIG",
  "config/resolve.ts#DEFAULT_SETTINGS",
  "config/viper_formats.ts#unwrapBlocks",
  "health/checker.ts#checkRequest",
  "health/checker.ts#firstDelay",
  "health/checker.ts#nextDelay",
  "health/checker.ts#parseStatusLine",
  "health/monitor.ts#combineChecks",
  "health/monitor.ts#healthChecks",
  "providers/consul.ts#consulInstances",
  "providers/consul.ts#createConsulListReader",
  "providers/http.ts#redactUrl",
  "providers/json_get.ts#redact",
  "providers/nomad.ts#nomadInstances",
  "providers/nomad.ts#nomadServiceName",
  "providers/nomad.ts#nomadTaggedServices",
  "providers/tags.ts#readInstanceTags",
  "proxy/resolver.ts#dnsLookup",
  "runtime/_addr.ts#normaliseHost",
  "runtime/_errors.ts#safeUrl",
  "runtime/_idle_sweeper.ts#createIdleSweeper",
  "text/did_you_mean.ts#closest",
  "text/did_you_mean.ts#levenshtein",
  "text/text_format.ts#MAX_ALIAS_COUNT",
  "text/text_format.ts#MAX_NESTING",
  "text/text_format.ts#findJsonError",
  "admin/app.ts#createAdminRoutes",
  "cli/group.ts#mergeParts",
  "cli/group.ts#workerMetrics",
  "routing/sni_match.ts#normalizeSniName",
  // The history answer's listener schema: the API test validates answers against it.
  "admin/history_schemas.ts#HistoryListener",
  // Written by scripts/vendor_uplot.ts, compared with node_modules by the vendor test.
  "admin/vendor/uplot.ts#UPLOT_VERSION",
]);

/**
 * A folder's contract: the types declared in its types.ts. A type a file uses itself (the
 * options or result of an exported function) is part of that function's contract; a type
 * nobody uses at all is not.
 */
function isPublicExport(rel: string, name: string, text: string): boolean {
  if (PUBLIC_EXPORTS.has(`${rel}#*`) || PUBLIC_EXPORTS.has(`${rel}#${name}`)) return true;
  const typeExport = new RegExp(
    `^export\\s+(?:(?:interface|type)\\s+${name}\\b|type\\s*\\{[^}]*\\b${name}\\b)`,
    "m",
  );
  if (!typeExport.test(text)) return false;
  if (rel.endsWith("/types.ts")) return true;
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  return (code.match(new RegExp(`\\b${name}\\b`, "g")) ?? []).length > 1;
}

function walkFrom(dir: string, exts: RegExp): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name === "node_modules") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walkFrom(path, exts));
    else if (exts.test(name)) out.push(path);
  }
  return out;
}

/** "src-relative file#name" for every export nothing outside its own file uses. */
function unusedExports(): string[] {
  const users = [
    ...walkFrom(SRC, /\.ts$/),
    join(ROOT, "main.ts"),
    ...walkFrom(join(ROOT, "scripts"), /\.(ts|mjs)$/),
    ...walkFrom(join(ROOT, "bench"), /\.(ts|mjs)$/),
  ];
  const used = new Set<string>();
  for (const abs of users) {
    for (const { spec, names } of importedNames(readFileSync(abs, "utf8"))) {
      if (!spec.startsWith(".")) continue;
      const target = relative(SRC, resolve(dirname(abs), spec)).replaceAll("\\", "/");
      if (names === "*") used.add(`${target}#*`);
      else for (const n of names) used.add(`${target}#${n}`);
    }
  }
  const bad: string[] = [];
  for (const rel of files) {
    const text = readFileSync(join(SRC, rel), "utf8");
    if (used.has(`${rel}#*`)) continue;
    for (const name of exportsOf(text)) {
      if (used.has(`${rel}#${name}`) || isPublicExport(rel, name, text)) continue;
      bad.push(`src/${rel}#${name}`);
    }
  }
  return bad;
}

describe("src/ boundaries", () => {
  it("every relative import resolves to a file in src/", () => {
    const bad: string[] = [];
    for (const [from, edges] of graph) {
      for (const e of edges) {
        if (!graph.has(e.rel)) bad.push(`src/${from} imports "${e.imp.spec}" (not a file in src/)`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it("no import cycle between files (type-only imports included)", () => {
    const found = cycles(graph.keys(), (n) => (graph.get(n) ?? []).map((e) => e.rel));
    assert.deepEqual(found.map((c) => c.map((f) => `src/${f}`).join(" -> ")), []);
  });

  it("no import cycle between top-level folders", () => {
    const units = new Map<string, Set<string>>();
    for (const [from, edges] of graph) {
      const u = unitOf(from);
      const set = units.get(u) ?? new Set<string>();
      for (const e of edges) if (unitOf(e.rel) !== u) set.add(unitOf(e.rel));
      units.set(u, set);
    }
    const found = cycles(units.keys(), (n) => units.get(n) ?? []);
    const explain = found.map((c) => {
      const steps: string[] = [];
      for (let i = 0; i + 1 < c.length; i++) {
        const from = c[i]!, to = c[i + 1]!;
        const example = [...graph].flatMap(([f, es]) =>
          unitOf(f) === from
            ? es.filter((e) =>
              unitOf(e.rel) === to
            ).map((e) => `${f}→${e.rel}`)
            : []
        )[0];
        steps.push(`${from} -> ${to} (${example})`);
      }
      return steps.join(", ");
    });
    assert.deepEqual(explain, []);
  });

  it("every file belongs to a known layer", () => {
    const unknown = files.filter((f) => layerOf(unitOf(f)) < 0);
    assert.deepEqual(unknown, [], "add the folder to LAYERS in tests/boundaries_test.ts");
  });

  it("no import reaches up to a higher layer (nothing below the CLI imports admin or cli)", () => {
    const bad: string[] = [];
    for (const [from, edges] of graph) {
      const fromLayer = layerOf(unitOf(from));
      for (const e of edges) {
        const toLayer = layerOf(unitOf(e.rel));
        if (toLayer > fromLayer) {
          bad.push(`src/${from} (layer ${fromLayer}) imports src/${e.rel} (layer ${toLayer})`);
        }
      }
    }
    assert.deepEqual(bad, []);
  });

  it("Deno.* and Bun.* only under src/runtime/", () => {
    const bad: string[] = [];
    for (const rel of files) {
      if (rel.startsWith("runtime/")) continue;
      const code = readFileSync(join(SRC, rel), "utf8").replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/\/\/.*$/gm, "");
      const m = /\b(Deno|Bun)\s*\.\s*\w+/.exec(code);
      if (m) bad.push(`src/${rel} uses ${m[0]}`);
    }
    assert.deepEqual(bad, []);
  });

  it("the pure layers import no I/O module and no runtime adapter", () => {
    const bad: string[] = [];
    for (const [from, edges] of graph) {
      if (!PURE.has(unitOf(from)) || PURE_EXCEPTIONS.has(from)) continue;
      const text = readFileSync(join(SRC, from), "utf8");
      for (const imp of importsOf(text)) {
        if (!IO_MODULES.test(imp.spec)) continue;
        // node:net's address predicates (isIP, isIPv4, isIPv6) are pure functions, not I/O.
        const names = new RegExp(`import\\s*\\{([^}]*)\\}\\s*from\\s*["']${imp.spec}["']`).exec(
          text,
        );
        const onlyPredicates = imp.spec.endsWith("net") && names !== null &&
          names[1]!.split(",").every((n) => /^\s*isIP(v4|v6)?\s*$/.test(n));
        if (!onlyPredicates) bad.push(`src/${from} imports "${imp.spec}"`);
      }
      for (const e of edges) {
        if (unitOf(e.rel) === "runtime" && !e.imp.typeOnly) {
          bad.push(`src/${from} imports the runtime adapter src/${e.rel}`);
        }
      }
    }
    assert.deepEqual(bad, []);
  });

  it("the pure layers keep no module-level mutable state", () => {
    const bad: string[] = [];
    for (const rel of files) {
      if (!PURE.has(unitOf(rel))) continue;
      const lines = readFileSync(join(SRC, rel), "utf8").split("\n");
      lines.forEach((line, i) => {
        if (/^(export\s+)?(let|var)\s/.test(line)) bad.push(`src/${rel}:${i + 1}: ${line.trim()}`);
        // A module-level collection is allowed only as a read-only lookup (typed Readonly*).
        const collection =
          /^(export\s+)?const\s+\w+(\s*:\s*([^=]+))?\s*=\s*new\s+(Weak)?(Map|Set)\b/
            .exec(line);
        if (collection && !/^\s*Readonly(Map|Set)</.test(collection[3] ?? "")) {
          bad.push(`src/${rel}:${i + 1}: ${line.trim()}`);
        }
      });
    }
    assert.deepEqual(bad, []);
  });

  it("every export of src/ is used outside its own file by src/, main.ts, scripts/ or bench/", () => {
    assert.deepEqual(
      unusedExports(),
      [],
      "unexport it, delete it, move a test-only helper to tests/_support, or (a deliberate " +
        "contract) add it to PUBLIC_EXPORTS with the reason",
    );
  });

  it("PUBLIC_EXPORTS names only exports that exist", () => {
    const stale = [...PUBLIC_EXPORTS].filter((key) => {
      const [rel, name] = key.split("#") as [string, string];
      if (!files.includes(rel)) return true;
      return name !== "*" && !exportsOf(readFileSync(join(SRC, rel), "utf8")).includes(name);
    });
    assert.deepEqual(stale, []);
  });

  it(`no file in src/ is over ${MAX_LINES} lines`, () => {
    const big = files
      .map((rel) => ({ rel, n: readFileSync(join(SRC, rel), "utf8").split("\n").length }))
      .filter((f) => f.n > MAX_LINES)
      .map((f) => `src/${f.rel}: ${f.n} lines`);
    assert.deepEqual(big, []);
  });
});

describe("the boundary checker itself", () => {
  it("reads declared, listed and renamed exports, and the names other files import", () => {
    const text = [
      "export function f() {}",
      "export async function g() {}",
      "export const C = 1;",
      "export interface I {}",
      "export type T = string;",
      "export class K {}",
      "// export function commented() {}",
      "const x = 1, y = 2;",
      "export { x, y as z };",
      'export type { U } from "./u.ts";',
    ].join("\n");
    assert.deepEqual(exportsOf(text), ["f", "g", "C", "I", "T", "K", "x", "z", "U"]);
    const user = [
      'import { a, type B, c as d } from "./m.ts";',
      'import * as ns from "./n.ts";',
      'export { e } from "./o.ts";',
      'const { p } = await import("./p.ts");',
      'const q = (await import("./q.ts")).make();',
    ].join("\n");
    assert.deepEqual(importedNames(user), [
      { spec: "./m.ts", names: ["a", "B", "c"] },
      { spec: "./n.ts", names: "*" },
      { spec: "./o.ts", names: ["e"] },
      { spec: "./p.ts", names: ["p"] },
      { spec: "./q.ts", names: ["make"] },
    ]);
  });

  it("finds a cycle and ignores an acyclic graph", () => {
    const g = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]);
    assert.deepEqual(cycles(g.keys(), (n) => g.get(n) ?? []), [["a", "b", "c", "a"]]);
    const h = new Map([["a", ["b"]], ["b", []], ["c", ["a", "b"]]]);
    assert.deepEqual(cycles(h.keys(), (n) => h.get(n) ?? []), []);
  });

  it("reads static, type-only, re-export and dynamic imports, not commented ones", () => {
    const text = [
      'import { a } from "./a.ts";',
      'import type { B } from "../b.ts";',
      'export { c } from "./c.ts";',
      '// import { z } from "./z.ts";',
      'const m = await import("./d.ts");',
      'import "./side.ts";',
    ].join("\n");
    assert.deepEqual(importsOf(text), [
      { spec: "./a.ts", typeOnly: false },
      { spec: "../b.ts", typeOnly: true },
      { spec: "./c.ts", typeOnly: false },
      { spec: "./side.ts", typeOnly: false },
      { spec: "./d.ts", typeOnly: false },
    ]);
  });
});
