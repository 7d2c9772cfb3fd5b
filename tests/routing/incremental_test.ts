// Re-reading a routing document after a small edit: the piecewise TOML parse gives what a
// whole-text parse gives, unchanged services come back as the same objects, and the table
// builder hands unchanged listeners their previous plan object (the engine skips those). Every
// cache belongs to an object a test creates, so no test sees another's work.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseText } from "../../src/text/text_format.ts";
import { createDocumentParser, parseRoutingDocument } from "../../src/routing/document.ts";
import { createTomlPieceParser } from "../../src/routing/toml_services.ts";
import { validateServices } from "../../src/routing/service.ts";
import { createServiceValidator } from "../../src/routing/validator.ts";
import { buildTable } from "../../src/routing/table.ts";
import { createTableBuilder } from "../../src/routing/table_builder.ts";
import { DEFAULT_SETTINGS } from "../../src/config/resolve.ts";
import type { ServiceSpec, TableConfig } from "../../src/routing/types.ts";

const cfg: TableConfig = {
  allowed: { local: "127.0.0.1", any: "0.0.0.0" },
  portMin: 2000,
  portMax: 3000,
  defaults: DEFAULT_SETTINGS,
};

function svc(name: string, port: number, backend = "10.0.0.1:80"): string {
  return `[[services]]\nname = "${name}"\nlistener = "local:${port}"\nbackends = ["${backend}"]\n`;
}

describe("createTomlPieceParser()", () => {
  const same = (text: string) => {
    const fast = createTomlPieceParser().parse(text);
    assert.notEqual(fast, undefined, "expected the piecewise path");
    assert.deepEqual(fast, parseText(text, "toml"));
  };

  it("gives what a whole-text parse gives", () => {
    same(svc("a", 2001) + "\n" + svc("b", 2002));
    same(`"$schema" = "./routing.schema.json"\n# comment\n\n` + svc("a", 2001));
    same(svc("a", 2001) + '[services.health]\ntype = "tcp"\n\n' + svc("b", 2002));
    same(
      svc("a", 2001).replaceAll("\n", "\r\n") + "\r\n" + svc("b", 2002).replaceAll("\n", "\r\n"),
    );
    same(
      '[[services]]\nname = "a"\nlistener = "local:2001"\n' +
        '[[services.backends]]\naddress = "10.0.0.2:80"\nweight = 2\n' +
        '  [[services]]\nname = "indented"\nlistener = "local:2003"\nbackends = []\n',
    );
    same(svc("a", 2001) + svc("a", 2001)); // a duplicate stays two services
  });

  it("declines what the pieces cannot tell alone, and the whole parse decides", () => {
    const cache = createTomlPieceParser();
    // A multi-line string holding a header line: the piece before it does not parse.
    const inString = svc("a", 2001).replace(
      "backends",
      "notes = '''\n[[services]]\nname = \"x\"\n'''\nbackends",
    );
    assert.equal(cache.parse(inString), undefined);
    // Another table after a service, and a prefix that defines services itself.
    assert.equal(cache.parse(svc("a", 2001) + "[other]\nx = 1\n"), undefined);
    assert.equal(cache.parse("services = []\n" + svc("a", 2001)), undefined);
    assert.equal(cache.parse("x = 1\n"), undefined);
    assert.equal(cache.size, 0);
    // Through a document parser the whole-text result stands.
    const d = createDocumentParser("/r.toml").parse(inString, "toml");
    assert.equal(d.services.length, 1);
    assert.deepEqual(d.problems.map((p) => p.field), ["notes"]);
    assert.deepEqual(d, parseRoutingDocument(inString, "toml", "/r.toml"));
  });

  it("reports a syntax error at its line in the whole document", () => {
    const text = svc("a", 2001) + "\n" + svc("b", 2002) + 'oops = "\n';
    const parser = createDocumentParser("/r.toml");
    parser.parse(svc("a", 2001) + "\n" + svc("b", 2002), "toml");
    assert.throws(() => parser.parse(text, "toml"), /\/r\.toml:10:\d+: /);
    assert.throws(() => parseRoutingDocument(text, "toml", "/r.toml"), /\/r\.toml:10:\d+: /);
  });

  it("keeps only the pieces of the latest version", () => {
    const cache = createTomlPieceParser();
    cache.parse(svc("a", 2001) + svc("b", 2002));
    cache.parse("x = 1\n"); // declined: the next parse starts from the pieces alone
    const second = cache.parse(svc("a", 2001) + svc("c", 2003));
    assert.equal((second?.services as unknown[]).length, 2);
    assert.equal(cache.size, 3); // the empty prefix, a and c
  });
});

describe("unchanged services after an edit", () => {
  it("come back as the same ServiceSpec objects; edited ones are new", () => {
    const parser = createDocumentParser("/r.toml");
    const one = parser.parse(svc("a", 2001) + svc("b", 2002), "toml");
    const two = parser.parse(svc("a", 2001) + svc("b", 2002, "10.0.0.9:80"), "toml");
    assert.equal(two.services[0], one.services[0]);
    assert.notEqual(two.services[1], one.services[1]);
    assert.equal(two.services[1]?.backends[0]?.address, "10.0.0.9:80");
  });

  it("repeat their problems each time", () => {
    const parser = createDocumentParser("/r.toml");
    const text = svc("a", 2001).replace("backends", "colour = 1\nbackends");
    const one = parser.parse(text, "toml");
    const two = parser.parse(text + svc("b", 2002), "toml");
    assert.equal(one.problems.length, 1);
    assert.deepEqual(two.problems, one.problems);
  });

  it("a validator reuses a result of its own only and, unnamed, at the same position", () => {
    const raw = { name: "a", listener: "local:2001", backends: ["10.0.0.1:80"] };
    const s1 = createServiceValidator("s1");
    const a = s1.validate([raw]);
    assert.equal(s1.validate([{}, raw]).services[0], a.services[0]);
    assert.notEqual(createServiceValidator("s2").validate([raw]).services[0], a.services[0]);
    assert.notEqual(validateServices([raw], "s1").services[0], a.services[0]);
    assert.deepEqual(validateServices([raw], "s1").services[0], a.services[0]);
    const unnamed = { listener: "local:2001", backends: ["10.0.0.1:80"] };
    assert.equal(s1.validate([unnamed]).problems[0]?.service, "#0");
    assert.equal(s1.validate([{}, unnamed]).problems.at(-1)?.service, "#1");
  });
});

describe("validateServices() after an edit", () => {
  const raw = (name: string, port: number) => ({
    name,
    listener: `local:${port}`,
    backends: ["10.0.0.1:80"],
  });

  it("gives what validating the whole list gives", () => {
    const v = createServiceValidator("/r.toml");
    const list = Array.from({ length: 20 }, (_, i) => raw(`s${i}`, 2000 + i));
    const first = v.validate(list);
    // One replaced, one inserted, one removed: the rest of the result is copied.
    const edited = [...list];
    edited[3] = raw("x", 2100);
    edited.splice(10, 0, raw("y", 2101));
    edited.splice(15, 1);
    const got = v.validate(edited);
    assert.deepEqual(got, validateServices(edited, "/r.toml"));
    assert.equal(got.services[0], first.services[0]);
    assert.deepEqual(got.problems, []);
    // A problem in the changed part: the general path reports it and drops that service.
    const bad = [...edited];
    bad[5] = { name: "bad", listener: "nowhere", backends: [] } as never;
    const withProblem = v.validate(bad);
    assert.deepEqual(withProblem, validateServices(bad, "/r.toml"));
    assert.equal(withProblem.services.length, bad.length - 1);
    assert.equal(withProblem.problems[0]?.service, "bad");
    // ...and the next clean list is right again.
    assert.deepEqual(
      v.validate(edited).services.map((s) => s.name),
      edited.map((r) => r.name),
    );
  });

  it("is not fooled by a list changed in place", () => {
    const v = createServiceValidator("/r.toml");
    const list = [raw("a", 2001), raw("b", 2002)];
    v.validate(list);
    list[1] = raw("c", 2003);
    assert.deepEqual(v.validate(list).services.map((s) => s.name), ["a", "c"]);
  });
});

describe("a table builder after an edit", () => {
  const routes = (services: readonly ServiceSpec[]) => [{ provider: "file", services }];

  it("hands unchanged listeners their previous plan object", () => {
    const parser = createDocumentParser("/r.toml");
    const tables = createTableBuilder();
    const one = parser.parse(svc("a", 2001) + svc("b", 2002), "toml");
    const t1 = tables.build(routes(one.services), cfg).table;
    const two = parser.parse(
      svc("a", 2001) + svc("b", 2002, "10.0.0.9:80") + svc("c", 2003),
      "toml",
    );
    const t2 = tables.build(routes(two.services), cfg).table;
    assert.deepEqual(t2.listeners, buildTable(routes(two.services), cfg).table.listeners);
    assert.equal(t2.listeners.get("127.0.0.1:2001"), t1.listeners.get("127.0.0.1:2001"));
    assert.notEqual(t2.listeners.get("127.0.0.1:2002"), t1.listeners.get("127.0.0.1:2002"));
    assert.equal(t2.listeners.get("127.0.0.1:2002")?.backends[0]?.address, "10.0.0.9:80");
    assert.deepEqual([...t2.listeners.keys()], [
      "127.0.0.1:2001",
      "127.0.0.1:2002",
      "127.0.0.1:2003",
    ]);
  });

  it("builds a new plan when the defaults, the range or a listener's members change", () => {
    const { services } = parseRoutingDocument(svc("a", 2001) + svc("b", 2002), "toml", "/r.toml");
    const tables = createTableBuilder();
    const t1 = tables.build(routes(services), cfg).table;
    const key = "127.0.0.1:2001";
    const defaults = { ...DEFAULT_SETTINGS, connectAttempts: 7 };
    const t2 = tables.build(routes(services), { ...cfg, defaults }).table;
    assert.notEqual(t2.listeners.get(key), t1.listeners.get(key));
    assert.equal(t2.listeners.get(key)?.settings.connectAttempts, 7);
    const t3 = tables.build(routes(services), { ...cfg, defaults, portMin: 2002 });
    assert.deepEqual([...t3.table.listeners.keys()], ["127.0.0.1:2002"]);
    assert.equal(t3.problems[0]?.service, "a");
    // A second service joins listener 2001: a shared pool, so a new plan.
    const joined = validateServices(
      [{ name: "z", listener: "local:2001", backends: ["10.0.0.5:80"] }],
      "other",
    ).services;
    const t4 = tables.build([...routes(services), { provider: "x", services: joined }], cfg).table;
    assert.deepEqual(t4.listeners.get(key)?.services, ["a", "z"]);
    assert.equal(t4.listeners.get(key)?.backends.length, 2);
    // ...and leaves again: the plan equals the first one.
    const t5 = tables.build(routes(services), cfg).table;
    assert.deepEqual(t5.listeners.get(key), t1.listeners.get(key));
  });
});

describe("a table builder's incremental path", () => {
  // A small deterministic PRNG: the same sequence on both runtimes and every run.
  function rng(seed: number): () => number {
    let x = seed >>> 0;
    return () => {
      x = (x * 1664525 + 1013904223) >>> 0;
      return x / 2 ** 32;
    };
  }

  function spec(r: () => number, i: number): ServiceSpec {
    const port = 2000 + Math.floor(r() * 12); // few ports: shared listeners happen
    const label = r() < 0.8 ? "local" : "any";
    const raw: Record<string, unknown> = {
      name: r() < 0.03 ? "dup" : `s${i}`,
      listener: `${label}:${r() < 0.01 ? 1999 : port}`, // 1999: out of range, a problem
      backends: [`10.0.${Math.floor(r() * 3)}.${Math.floor(r() * 250) + 1}:80`],
    };
    // Differing settings warn; 0 is the default (every backend), so 2 in 3 of these differ.
    if (r() < 0.02) raw.connect_attempts = [1, 2, 0][Math.floor(r() * 3)];
    const d = validateServices([raw], "gen");
    return d.services[0]!;
  }

  it("gives what a full build gives, edit after edit", () => {
    let incremental = 0;
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const r = rng(seed);
      let n = 0;
      const lists: ServiceSpec[][] = [
        Array.from({ length: 30 }, () => spec(r, n++)),
        Array.from({ length: 10 }, () => spec(r, n++)),
      ];
      const routesOf = () => lists.map((services, i) => ({ provider: `p${i}`, services }));
      const tables = createTableBuilder();
      let prev = tables.build(routesOf(), cfg);
      for (let step = 0; step < 60; step++) {
        const list = lists[r() < 0.75 ? 0 : 1]!;
        const next = [...list];
        const at = Math.floor(r() * (next.length + 1));
        const op = r();
        if (op < 0.4 && next.length) next[Math.min(at, next.length - 1)] = spec(r, n++);
        else if (op < 0.6 && next.length) next.splice(Math.min(at, next.length - 1), 1);
        else if (op < 0.8) next.splice(at, 0, spec(r, n++));
        else next.splice(at, 0, ...Array.from({ length: 3 }, () => spec(r, n++)));
        lists[lists.indexOf(list)] = next;
        const got = tables.build(routesOf(), cfg);
        const want = buildTable(routesOf(), cfg);
        const where = `seed ${seed} step ${step}`;
        assert.deepEqual([...got.table.listeners.keys()], [...want.table.listeners.keys()], where);
        assert.deepEqual(got.table.listeners, want.table.listeners, where);
        assert.deepEqual(got.problems, want.problems, where);
        // changedSince names every key where the table differs from the one it is based on.
        const since = got.table.changedSince;
        if (since) {
          const base = since.base.deref();
          assert.equal(base, prev.table, `${where}: based on the previous table`);
          const keys = new Set(since.keys);
          for (
            const key of new Set([...prev.table.listeners.keys(), ...got.table.listeners.keys()])
          ) {
            if (keys.has(key)) continue;
            assert.equal(
              got.table.listeners.get(key),
              prev.table.listeners.get(key),
              `${where}: ${key}`,
            );
          }
        }
        // A listener whose plan did not change keeps its object.
        for (const [key, plan] of got.table.listeners) {
          const before = prev.table.listeners.get(key);
          if (before && JSON.stringify(before) === JSON.stringify(plan)) {
            assert.equal(plan, before, `${where}: ${key} kept its plan object`);
          }
        }
        prev = got;
      }
      incremental += tables.stats.incremental;
    }
    // Most steps took the incremental path (the rest: problems, ties, a spec listed twice).
    assert.ok(incremental > 100, `${incremental}`);
  });

  it("does not disturb a build for other routes or another config in between", () => {
    const a = validateServices([
      { name: "a", listener: "local:2001", backends: ["10.0.0.1:80"] },
      { name: "b", listener: "local:2002", backends: ["10.0.0.2:80"] },
    ], "x").services;
    const other = validateServices([
      { name: "z", listener: "local:2009", backends: ["10.0.0.9:80"] },
    ], "y").services;
    const tables = createTableBuilder();
    tables.build([{ provider: "file", services: a }], cfg);
    tables.build([{ provider: "other", services: other }], { ...cfg, portMin: 2005 });
    const edited = [
      a[0]!,
      ...validateServices([
        { name: "b", listener: "local:2003", backends: ["10.0.0.2:80"] },
      ], "x").services,
    ];
    const got = tables.build([{ provider: "file", services: edited }], cfg);
    const want = buildTable([{ provider: "file", services: edited }], cfg);
    assert.deepEqual(got.table.listeners, want.table.listeners);
    assert.deepEqual(got.problems, want.problems);
    assert.deepEqual([...got.table.listeners.keys()], ["127.0.0.1:2001", "127.0.0.1:2003"]);
  });
});

describe("a TOML piece parser after an edit", () => {
  function rng(seed: number): () => number {
    let x = seed >>> 0;
    return () => {
      x = (x * 1103515245 + 12345) >>> 0;
      return x / 2 ** 32;
    };
  }

  it("gives what a whole-text parse gives, edit after edit, reusing unchanged services", () => {
    let diffs = 0;
    for (const seed of [11, 12, 13, 14]) {
      const r = rng(seed);
      let n = 0;
      const piece = () => {
        const i = n++;
        const extra = r() < 0.2 ? `[services.health]\ntype = "tcp"\n` : "";
        const sep = r() < 0.1 ? "\r\n" : "\n";
        // An indented header is no cut: such a piece holds two services.
        const twin = r() < 0.15 ? "  " + svc(`t${i}`, 2900 - (i % 900)) : "";
        return (svc(`s${i}`, 2000 + (i % 900)) + extra + twin).replaceAll("\n", sep) + "\n";
      };
      let prefix = r() < 0.5 ? `"$schema" = "./x.json"\n\n` : "";
      const pieces = Array.from({ length: 25 }, piece);
      const cache = createTomlPieceParser();
      let prevData = cache.parse(prefix + pieces.join(""));
      for (let step = 0; step < 80; step++) {
        const at = Math.floor(r() * pieces.length);
        const op = r();
        if (op < 0.35) pieces[at] = piece();
        else if (op < 0.55 && pieces.length > 1) pieces.splice(at, 1);
        else if (op < 0.8) pieces.splice(at, 0, piece());
        else if (op < 0.9) prefix = prefix ? "" : `# a comment\n"$schema" = "s${step}"\n`;
        else pieces[at] = pieces[at]!.replace(/backends/, `# touched ${step}\nbackends`);
        const text = prefix + pieces.join("");
        const got = cache.parse(text);
        const where = `seed ${seed} step ${step}`;
        assert.notEqual(got, undefined, where);
        assert.deepEqual(got, parseText(text, "toml"), where);
        // Services whose text did not change are the very objects of the previous version.
        const before = new Map(
          ((prevData?.services ?? []) as { name: string }[]).map((s) => [JSON.stringify(s), s]),
        );
        let kept = 0;
        for (const s of got!.services as { name: string }[]) {
          if (before.get(JSON.stringify(s)) === s) kept++;
        }
        assert.ok(kept >= (got!.services as unknown[]).length - 8, `${where}: ${kept} kept`);
        prevData = got;
      }
      diffs += cache.stats.diff;
    }
    assert.ok(diffs > 250, `${diffs} by diff`);
  });

  it("falls back to the whole text when an edit opens a string across pieces", () => {
    const cache = createTomlPieceParser();
    const base = svc("a", 2001) + svc("b", 2002) + svc("c", 2003);
    assert.notEqual(cache.parse(base), undefined);
    const broken = base.replace('name = "b"', "name = '''\n");
    assert.equal(cache.parse(broken), undefined);
    assert.deepEqual(cache.parse(base), parseText(base, "toml"));
  });
});
