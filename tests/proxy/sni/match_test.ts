// compileSniMatcher: which service takes a server name on a shared listener, and the problems
// reported for conflicting or invalid claims.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  compileSniMatcher,
  normalizeSniName,
  type SniClaim,
} from "../../../src/routing/sni_match.ts";

const claim = (label: string, ...sni: string[]): SniClaim<string> => ({
  service: label,
  label,
  sni,
});

describe("compileSniMatcher picks", () => {
  const { matcher, problems } = compileSniMatcher([
    claim("db", "db.example.com"),
    claim("apps", "*.apps.example.com"),
    claim("special", "special.apps.example.com", "Other.Example.NET."),
    claim("wide", "*.example.com"),
    claim("fallback"),
  ]);

  const table: [string | undefined, string | undefined, string][] = [
    ["db.example.com", "db", "exact"],
    ["DB.Example.Com", "db", "exact"],
    ["db.example.com.", "db", "exact"],
    ["web.apps.example.com", "apps", "wildcard"],
    ["WEB.APPS.EXAMPLE.COM.", "apps", "wildcard"],
    // exact beats the wildcard it falls under
    ["special.apps.example.com", "special", "exact"],
    ["other.example.net", "special", "exact"],
    // "*." is exactly one label: deeper names and the bare parent do not match it
    ["a.b.apps.example.com", "fallback", "default"],
    ["apps.example.com", "wide", "wildcard"],
    ["x.example.com", "wide", "wildcard"],
    ["example.com", "fallback", "default"],
    [".apps.example.com", "fallback", "default"],
    ["unknown.org", "fallback", "default"],
    [undefined, "fallback", "default"],
    ["", "fallback", "default"],
  ];
  for (const [name, want, by] of table) {
    it(`${JSON.stringify(name)} -> ${want} (${by})`, () => {
      assert.deepEqual(problems, []);
      const p = matcher.pick(name);
      assert.equal(p?.service, want);
      assert.equal(p?.by, by);
    });
  }

  it("reports the normalised rule that matched", () => {
    assert.equal(matcher.pick("other.example.net")?.rule, "other.example.net");
    assert.equal(matcher.pick("q.apps.example.com")?.rule, "*.apps.example.com");
    assert.equal(matcher.pick("nothing.test")?.rule, "default");
  });

  it("returns the same object per rule (nothing allocated per connection)", () => {
    assert.equal(matcher.pick("a.apps.example.com"), matcher.pick("b.apps.example.com"));
  });

  it("without a default, an unmatched or missing name has no service", () => {
    const m = compileSniMatcher([claim("db", "db.example.com")]).matcher;
    assert.equal(m.pick("x.example.com"), undefined);
    assert.equal(m.pick(undefined), undefined);
    assert.equal(m.pick("db.example.com")?.service, "db");
  });
});

describe("compileSniMatcher problems", () => {
  it("a name claimed by two services stays with the first, one problem naming both", () => {
    const { matcher, problems } = compileSniMatcher([
      claim("a", "db.example.com", "a.example.com"),
      claim("b", "DB.example.com.", "b.example.com"),
    ]);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.kind, "conflict");
    assert.deepEqual(problems[0]!.services, ["a", "b"]);
    assert.match(problems[0]!.message, /"db\.example\.com".*"a".*"b"/);
    assert.equal(matcher.pick("db.example.com")?.service, "a");
    // the rest of b's claims apply
    assert.equal(matcher.pick("b.example.com")?.service, "b");
  });

  it("the same wildcard twice conflicts; a wildcard and an exact name do not", () => {
    const { problems } = compileSniMatcher([
      claim("a", "*.example.com"),
      claim("b", "x.example.com"),
      claim("c", "*.EXAMPLE.com"),
    ]);
    assert.deepEqual(problems.map((p) => p.services), [["a", "c"]]);
  });

  it("one service repeating its own name is not a conflict", () => {
    const { problems } = compileSniMatcher([claim("a", "x.example.com", "X.example.com.")]);
    assert.deepEqual(problems, []);
  });

  it("two services without sni conflict over the default", () => {
    const { matcher, problems } = compileSniMatcher([
      claim("d1"),
      claim("x", "x.test"),
      claim("d2"),
    ]);
    assert.equal(problems.length, 1);
    assert.deepEqual(problems[0]!.services, ["d1", "d2"]);
    assert.equal(matcher.pick("other.test")?.service, "d1");
  });

  it("invalid names are reported and dropped, the valid ones apply", () => {
    const bad = ["*", "*.", "a.*.example.com", "*x.example.com", "a b.com", "", "a..b", "-a.com"];
    const { matcher, problems } = compileSniMatcher([claim("s", ...bad, "ok.example.com")]);
    assert.deepEqual(problems.map((p) => p.name), bad);
    assert.ok(problems.every((p) => p.kind === "invalid" && p.services[0] === "s"));
    assert.equal(matcher.pick("ok.example.com")?.service, "s");
  });
});

describe("normalizeSniName", () => {
  it("lower-cases, drops one trailing dot, keeps wildcards", () => {
    assert.equal(normalizeSniName("DB.Example.COM."), "db.example.com");
    assert.equal(normalizeSniName("*.Apps.Example.com"), "*.apps.example.com");
    assert.equal(normalizeSniName("localhost"), "localhost");
    assert.equal(normalizeSniName("a.com.."), null);
    assert.equal(normalizeSniName("x".repeat(64) + ".com"), null);
  });
});

describe("compileSniMatcher against a reference", () => {
  it("picks what a naive scan of the claims picks, for random claims and names", () => {
    // Few labels, so that names collide, nest and fall under each other's wildcards.
    const label = fc.constantFrom("a", "b", "c", "A", "B");
    const host = fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => l.join("."));
    const rule = fc.oneof(host, host.map((h) => `*.${h}`), host.map((h) => `${h}.`));
    const claims = fc.array(fc.array(rule, { maxLength: 3 }), { maxLength: 5 });
    fc.assert(
      fc.property(claims, fc.array(host, { minLength: 1, maxLength: 10 }), (sets, names) => {
        const cs = sets.map((sni, i) => claim(`s${i}`, ...sni));
        const { matcher } = compileSniMatcher(cs);
        const norm = (x: string) => x.toLowerCase().replace(/\.$/, "");
        for (const name of names) {
          const n = norm(name);
          const parent = n.includes(".") ? n.slice(n.indexOf(".") + 1) : undefined;
          // Exact first (the first claim in order), then the parent's wildcard, then the
          // first service without sni.
          const want = cs.find((c) => c.sni.some((r) => norm(r) === n)) ??
            (parent === undefined
              ? undefined
              : cs.find((c) => c.sni.some((r) => norm(r) === `*.${parent}`))) ??
            cs.find((c) => c.sni.length === 0);
          assert.equal(matcher.pick(name)?.service, want?.service, `${name} in ${sets}`);
        }
      }),
      { numRuns: 500 },
    );
  });
});
