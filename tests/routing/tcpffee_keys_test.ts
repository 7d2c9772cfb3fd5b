// Routing keys for tcpffee users: disabled and group on backends, backends without a port, and
// hash_key = "client_ip+first_bytes:S-E".
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseHashKey } from "../../src/routing/service_fields.ts";
import { validateServices } from "../../src/routing/service.ts";
import { buildTable } from "../../src/routing/table.ts";
import { routingJsonSchema } from "../../src/routing/schema.ts";
import { SETTINGS } from "../_support/plans.ts";
import { healthChecks } from "../../src/health/monitor.ts";

const cfg = { allowed: { local: "127.0.0.1" }, portMin: 1, portMax: 65535, defaults: SETTINGS };

describe("tcpffee routing keys", () => {
  it("reads disabled and group on a backend; absent means enabled and grouped by host", () => {
    const d = validateServices([{
      name: "s",
      listener: "local:2000",
      backends: [
        { address: "10.0.0.1:80", disabled: true, group: "g1" },
        { address: "10.0.0.2:80", drain: true },
      ],
    }], "t");
    assert.deepEqual(d.problems, []);
    const [a, b] = d.services[0]!.backends;
    assert.equal(a?.disabled, true);
    assert.equal(a?.group, "g1");
    assert.equal(b?.drain, true);
    assert.equal(b?.disabled, undefined);
    const plan = buildTable([{ provider: "file", services: d.services }], cfg).table.listeners
      .get("127.0.0.1:2000")!;
    assert.equal(plan.backends[0]?.disabled, true);
    assert.equal(plan.backends[0]?.group, "g1");
    assert.equal("disabled" in plan.backends[1]!, false);
  });

  it("gives a backend without a port the port of each listener", () => {
    const d = validateServices([{
      name: "s",
      listeners: ["local:5280", "local:5281"],
      backends: ["10.0.0.5", "[2001:db8::5]", "db.internal", "10.0.0.6:9000"],
    }], "t");
    assert.deepEqual(d.problems, []);
    assert.deepEqual(d.services[0]!.backends.map((b) => [b.address, b.port]), [
      ["10.0.0.5", 0],
      ["[2001:db8::5]", 0],
      ["db.internal", 0],
      ["10.0.0.6:9000", 9000],
    ]);
    const t = buildTable([{ provider: "file", services: d.services }], cfg).table;
    for (const port of [5280, 5281]) {
      const l = t.listeners.get(`127.0.0.1:${port}`)!;
      assert.deepEqual(l.backends.map((b) => [b.key, b.port]), [
        [`10.0.0.5:${port}`, port],
        [`[2001:db8::5]:${port}`, port],
        [`db.internal:${port}`, port],
        ["10.0.0.6:9000", 9000],
      ]);
    }
  });

  it("still drops a bare word as a backend (a typo more likely than a host)", () => {
    const d = validateServices(
      [{ name: "s", listener: "local:1", backends: ["nope", "a:1"] }],
      "t",
    );
    assert.deepEqual(d.problems.map((p) => p.field), ["backends[0]"]);
  });

  it("parses client_ip+first_bytes:S-E beside the other forms", () => {
    assert.deepEqual(parseHashKey("client_ip+first_bytes:2-10"), {
      kind: "client_ip+first_bytes",
      start: 2,
      end: 10,
    });
    assert.deepEqual(parseHashKey("first_bytes:0-4"), { kind: "first_bytes", start: 0, end: 4 });
    assert.equal(typeof parseHashKey("client_ip+first_bytes:5-5"), "string");
    assert.equal(typeof parseHashKey("ip+first_bytes:0-4"), "string");
    const d = validateServices([{
      name: "s",
      listener: "local:1",
      backends: ["a:1"],
      balance: "hash",
      hash_key: "client_ip+first_bytes:0-8",
    }], "t");
    assert.deepEqual(d.problems, []);
    assert.equal(d.services[0]!.settings.hashKey?.kind, "client_ip+first_bytes");
  });

  it("publishes the new keys in the JSON Schema", () => {
    const text = JSON.stringify(routingJsonSchema());
    assert.match(text, /"disabled"/);
    assert.match(text, /"group"/);
    assert.match(text, /client_ip\\\\\+\)\?first_bytes/);
  });
});

describe("stick", () => {
  it("reads stick.expiration as a duration; 0 or garbage drops the service", () => {
    const svc = (stick: unknown) =>
      validateServices([{ name: "s", listener: "local:1", backends: ["a:1"], stick }], "t");
    assert.deepEqual(svc({ expiration: "10s" }).services[0]?.settings.stick, {
      expirationMs: 10_000,
    });
    assert.deepEqual(svc({ expiration: 10 }).services[0]?.settings.stick, { expirationMs: 10_000 });
    for (const bad of [{ expiration: 0 }, { expiration: "soon" }, {}]) {
      const d = svc(bad);
      assert.equal(d.services.length, 0, JSON.stringify(bad));
      assert.match(d.problems[0]?.field ?? "", /^stick/);
    }
  });
});

describe("health: several checks", () => {
  const svc = (health: unknown) =>
    validateServices([{ name: "s", listener: "local:1", backends: ["a:1"], health }], "t");

  it("reads a list of checks, each with its fall action; timeout defaults to half the interval", () => {
    const d = svc([
      { interval: "4s", fall_action: "drain" },
      { type: "http", path: "/health", method: "POST", body: "Hello", fall_action: "disable" },
      { interval: "1s", timeout: "300ms", fall_action: "ignore" },
    ]);
    assert.deepEqual(d.problems, []);
    const checks = healthChecks(d.services[0]!.settings.health);
    assert.equal(checks.length, 3);
    assert.deepEqual(checks.map((c) => [c.fallAction, c.intervalMs, c.timeoutMs]), [
      ["drain", 4000, 2000],
      ["disable", 5000, 2000],
      ["ignore", 1000, 300],
    ]);
    assert.equal(checks[1]!.body, "Hello");
  });

  it("names the bad field of one check and drops the service", () => {
    const d = svc([{ type: "tcp" }, { rise: 0 }]);
    assert.equal(d.services.length, 0);
    assert.deepEqual(d.problems.map((p) => p.field), ["health[1].rise"]);
    assert.equal(svc([]).services.length, 0);
    const typo = svc([{ type: "tcp", fal_action: "drain" }]);
    assert.match(typo.problems[0]?.field ?? "", /health\[0\]\.fal_action/);
  });

  it("describes body as the request body in the JSON Schema", () => {
    const text = JSON.stringify(routingJsonSchema());
    assert.doesNotMatch(text, /substring/);
    assert.match(text, /request body sent with the check/);
  });
});
