// Routing documents: the three formats, located parse errors, and what is not a document.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  formatFromContentType,
  formatFromPath,
  parseRoutingDocument,
} from "../../src/routing/document.ts";
import { SluiceError } from "../../src/errors.ts";

function throwsRouting(f: () => unknown, re: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof SluiceError, String(e));
    assert.equal(e.code, "ROUTING");
    assert.match(e.message, re);
    return true;
  });
}

describe("formatFromPath() and formatFromContentType()", () => {
  it("maps extensions", () => {
    assert.equal(formatFromPath("/a/routing.toml"), "toml");
    assert.equal(formatFromPath("r.YAML"), "yaml");
    assert.equal(formatFromPath("r.yml"), "yaml");
    assert.equal(formatFromPath("r.json"), "json");
    assert.equal(formatFromPath("r.txt"), undefined);
    assert.equal(formatFromPath("routing"), undefined);
  });
  it("maps media types, ignoring parameters and case", () => {
    assert.equal(formatFromContentType("application/json; charset=utf-8"), "json");
    assert.equal(formatFromContentType("Application/TOML"), "toml");
    assert.equal(formatFromContentType("application/yaml"), "yaml");
    assert.equal(formatFromContentType("text/yaml;charset=utf-8"), "yaml");
    assert.equal(formatFromContentType("application/x-yaml"), "yaml");
    assert.equal(formatFromContentType("text/plain"), undefined);
    assert.equal(formatFromContentType(""), undefined);
  });
});

describe("parseRoutingDocument()", () => {
  const same = {
    toml: '[[services]]\nname = "a"\nlistener = "local:2000"\nbackends = ["127.0.0.1:1"]\n',
    yaml: "services:\n  - name: a\n    listener: local:2000\n    backends: [127.0.0.1:1]\n",
    json: '{"services":[{"name":"a","listener":"local:2000","backends":["127.0.0.1:1"]}]}',
  } as const;
  it("reads the same service from TOML, YAML and JSON", () => {
    const docs = (Object.keys(same) as (keyof typeof same)[]).map((f) =>
      parseRoutingDocument(same[f], f, `r.${f}`)
    );
    for (const d of docs) {
      assert.deepEqual(d.problems, []);
      assert.equal(d.services.length, 1);
      assert.deepEqual(d.services[0], docs[0]?.services[0]);
    }
    assert.deepEqual(docs[0]?.services[0]?.listeners, [{ label: "local", port: 2000 }]);
  });

  it("takes an empty document or an empty services list as no services", () => {
    for (
      const [text, f] of [
        ["", "toml"],
        ["  \n", "json"],
        ["", "yaml"],
        ["services = []", "toml"],
        ["services: []", "yaml"],
        ["# nothing\n", "yaml"],
      ] as const
    ) {
      assert.deepEqual(
        parseRoutingDocument(text, f, "x"),
        { services: [], problems: [] },
        `${f}: ${JSON.stringify(text)}`,
      );
    }
  });

  it("takes {} (no services key) as no services, with a notice dill's users can act on", () => {
    for (const [text, f] of [["{}", "json"], ["{}", "yaml"]] as const) {
      const doc = parseRoutingDocument(text, f, "x");
      assert.deepEqual(doc.services, []);
      assert.deepEqual(doc.problems, []);
      assert.equal(doc.notices?.length, 1);
      assert.match(doc.notices?.[0] ?? "", /^x: .*no services \(dill requires "services"/);
    }
  });

  it("reports TOML syntax errors with line and column", () => {
    throwsRouting(
      () => parseRoutingDocument('[[services]]\nname = "a"\nlistener = \n', "toml", "r.toml"),
      /^r\.toml:3:\d+: /,
    );
  });
  it("reports YAML syntax errors with line and column", () => {
    throwsRouting(
      () => parseRoutingDocument("services:\n  - name: a\n    backends: [1, 2\n", "yaml", "r.yaml"),
      /^r\.yaml:\d+:\d+: /,
    );
    throwsRouting(
      () => parseRoutingDocument("services:\n  - name: a\n    name: b\n", "yaml", "r.yaml"),
      /^r\.yaml:3:5: .*unique/,
    );
  });
  it("reports a YAML alias without an anchor as a located ROUTING error", () => {
    throwsRouting(
      () => parseRoutingDocument("services: *a\n", "yaml", "r.yaml"),
      /^r\.yaml:1:11: alias \*a has no anchor &a/,
    );
    let bomb = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
    for (let k = 1; k <= 10; k++) bomb += `l${k}: &l${k} [${Array(10).fill(`*l${k - 1}`)}]\n`;
    throwsRouting(
      () => parseRoutingDocument(bomb + "services: *l10\n", "yaml", "r.yaml"),
      /^r\.yaml:2:\d+: aliases expand to too much data/,
    );
  });
  it("reports JSON syntax errors with line and column on both runtimes", () => {
    throwsRouting(
      () =>
        parseRoutingDocument('{\n  "services": [\n    {"name": "a",}\n  ]\n}', "json", "r.json"),
      /^r\.json:3:18: trailing comma/,
    );
    throwsRouting(
      () => parseRoutingDocument('{"services": [', "json", "r.json"),
      /^r\.json:1:15: unexpected end/,
    );
    throwsRouting(
      () => parseRoutingDocument("{'a': 1}", "json", "r.json"),
      /^r\.json:1:2: expected a string key/,
    );
    throwsRouting(
      () => parseRoutingDocument("[] x", "json", "r.json"),
      /^r\.json:1:4: unexpected "x"/,
    );
  });
  it("refuses documents that are not a table with a services list", () => {
    throwsRouting(
      () => parseRoutingDocument("[1, 2]", "json", "r.json"),
      /r\.json:1:1: expected a table/,
    );
    throwsRouting(() => parseRoutingDocument('"x"', "json", "r.json"), /expected a table/);
    throwsRouting(
      () => parseRoutingDocument("services = 3", "toml", "r.toml"),
      /"services" to be a list/,
    );
    throwsRouting(
      () => parseRoutingDocument("[listeners]\nport_min = 1", "toml", "c.toml"),
      /expected a "services" list/,
    );
    throwsRouting(
      () => parseRoutingDocument("servces: []", "yaml", "r.yaml"),
      /did you mean "services"/,
    );
  });
  it("warns about unknown top-level keys but keeps the services", () => {
    const d = parseRoutingDocument(
      '{"$schema": "x", "servics": 1, "services": []}',
      "json",
      "r.json",
    );
    assert.equal(d.services.length, 0);
    assert.equal(d.problems.length, 1);
    assert.equal(d.problems[0]?.field, "servics");
    assert.match(d.problems[0]?.reason ?? "", /did you mean "services"/);
  });
  it("keeps valid services when another one is invalid", () => {
    const d = parseRoutingDocument(
      '[[services]]\nname = "ok"\nlistener = "local:2000"\nbackends = ["127.0.0.1:1"]\n' +
        '[[services]]\nname = "broken"\nlistener = "local"\nbackends = ["127.0.0.1:1"]\n',
      "toml",
      "r.toml",
    );
    assert.deepEqual(d.services.map((s) => s.name), ["ok"]);
    assert.equal(d.problems.length, 1);
    assert.deepEqual(
      {
        service: d.problems[0]?.service,
        field: d.problems[0]?.field,
        source: d.problems[0]?.source,
      },
      { service: "broken", field: "listener", source: "r.toml" },
    );
  });
});
