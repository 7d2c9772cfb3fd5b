// Service validation: every field of SPEC section 3, each fault dropped alone with its field path.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { validateServices } from "../../src/routing/service.ts";
import type { RouteProblem } from "../../src/routing/types.ts";

const base = { name: "svc", listener: "local:2000", backends: ["127.0.0.1:1"] };

function one(raw: Record<string, unknown>) {
  return validateServices([raw], "test");
}

function only(problems: readonly RouteProblem[]): RouteProblem {
  assert.equal(problems.length, 1, JSON.stringify(problems));
  return problems[0] as RouteProblem;
}

describe("validateServices()", () => {
  it("reads a full service with every key", () => {
    const d = one({
      name: "pg",
      listeners: ["any:5432", "v6:5432"],
      backends: [
        "10.0.0.11:5432",
        { address: "10.0.0.12:5432", weight: 2, tier: 0, drain: true },
        { address: "[2001:db8::7]:5432", tier: 1 },
      ],
      proxy: "socks5h://user:pass@127.0.0.1:1080",
      balance: "hash",
      hash_key: "first_bytes:0-8",
      connect_timeout: "250ms",
      connect_attempts: 2,
      idle_timeout: 90,
      max_connections: 10,
      proxy_protocol: "v2",
      accept_proxy_protocol: true,
      trusted_proxies: ["10.0.0.0/8", "::1", "192.168.1.1"],
      health: { type: "http", interval: "1s", path: "/h", status: 204, headers: { host: "x" } },
    });
    assert.deepEqual(d.problems, []);
    const s = d.services[0];
    assert.ok(s);
    assert.deepEqual(s.listeners, [{ label: "any", port: 5432 }, { label: "v6", port: 5432 }]);
    assert.deepEqual(s.backends, [
      {
        address: "10.0.0.11:5432",
        host: "10.0.0.11",
        port: 5432,
        weight: 1,
        tier: 0,
        drain: false,
      },
      { address: "10.0.0.12:5432", host: "10.0.0.12", port: 5432, weight: 2, tier: 0, drain: true },
      {
        address: "[2001:db8::7]:5432",
        host: "2001:db8::7",
        port: 5432,
        weight: 1,
        tier: 1,
        drain: false,
      },
    ]);
    assert.deepEqual(s.proxy, {
      scheme: "socks5h",
      host: "127.0.0.1",
      port: 1080,
      username: "user",
      password: "pass",
    });
    assert.deepEqual(s.settings, {
      balance: "hash",
      hashKey: { kind: "first_bytes", start: 0, end: 8 },
      connectTimeoutMs: 250,
      connectAttempts: 2,
      idleTimeoutMs: 90_000,
      maxConnections: 10,
      proxyProtocol: "v2",
      health: {
        type: "http",
        intervalMs: 1000,
        timeoutMs: 500, // unset: half the interval (issue 13)
        rise: 2,
        fall: 3,
        path: "/h",
        method: "GET",
        status: 204,
        headers: { host: "x" },
        body: "",
      },
    });
    assert.deepEqual(s.accept, {
      acceptProxyProtocol: true,
      trustedProxies: ["10.0.0.0/8", "::1/128", "192.168.1.1/32"],
    });
  });

  it("reads dill's minimal service and sets only what it says", () => {
    const d = one(base);
    assert.deepEqual(d.problems, []);
    assert.deepEqual(d.services[0]?.settings, {});
    assert.deepEqual(d.services[0]?.accept, {});
    assert.equal("proxy" in (d.services[0] ?? {}), false);
  });

  it("takes the union of listener and listeners, without duplicates", () => {
    const d = one({ ...base, listener: "local:2000", listeners: ["any:2000", "local:2000"] });
    assert.deepEqual(d.services[0]?.listeners, [{ label: "local", port: 2000 }, {
      label: "any",
      port: 2000,
    }]);
  });

  it("keeps a service with an explicitly empty backends list", () => {
    const d = one({ ...base, backends: [] });
    assert.deepEqual(d.problems, []);
    assert.deepEqual(d.services[0]?.backends, []);
  });

  // Each malformed field drops the service with one problem naming the field.
  const malformed: [string, Record<string, unknown>, string, RegExp][] = [
    ["no name", { listener: "local:2000", backends: [] }, "name", /missing/],
    ["an empty name", { ...base, name: "" }, "name", /non-empty/],
    ["no listener", { name: "svc", backends: [] }, "listener", /missing/],
    ["a listener without port", { ...base, listener: "local" }, "listener", /LABEL:PORT/],
    ["a listener port above 65535", { ...base, listener: "local:70000" }, "listener", /LABEL:PORT/],
    ["a listener port 0", { ...base, listener: "local:0" }, "listener", /port from 1 to 65535/],
    [
      "a bad entry in listeners",
      { ...base, listener: undefined, listeners: ["a:1", "b"] },
      "listeners[1]",
      /LABEL:PORT/,
    ],
    [
      "an empty listeners list",
      { ...base, listener: undefined, listeners: [] },
      "listeners",
      /at least 1/,
    ],
    ["backends not a list", { ...base, backends: "127.0.0.1:1" }, "backends", /expected a list/],
    ["no backends", { name: "svc", listener: "local:2000" }, "backends", /missing/],
    ["an unknown balance", { ...base, balance: "fastest" }, "balance", /one of "round_robin"/],
    ["a bad hash_key", { ...base, hash_key: "client_port" }, "hash_key", /client_ip/],
    [
      "a hash_key range backwards",
      { ...base, hash_key: "first_bytes:8-4" },
      "hash_key",
      /START < END/,
    ],
    ["a bad duration", { ...base, connect_timeout: "5 seconds" }, "connect_timeout", /duration/],
    ["a zero connect_timeout", { ...base, connect_timeout: "0s" }, "connect_timeout", /above 0/],
    ["a negative idle_timeout", { ...base, idle_timeout: -1 }, "idle_timeout", /at least 0/],
    ["connect_attempts -1", { ...base, connect_attempts: -1 }, "connect_attempts", /at least 0/],
    ["a zero connect_budget", { ...base, connect_budget: "0s" }, "connect_budget", /above 0/],
    ["connect_attempts 1.5", { ...base, connect_attempts: 1.5 }, "connect_attempts", /expected/],
    [
      "a negative max_connections",
      { ...base, max_connections: -1 },
      "max_connections",
      /at least 0/,
    ],
    [
      "an unknown proxy_protocol",
      { ...base, proxy_protocol: "v3" },
      "proxy_protocol",
      /"v1", "v2"/,
    ],
    [
      "accept_proxy_protocol not a boolean",
      { ...base, accept_proxy_protocol: "yes" },
      "accept_proxy_protocol",
      /true or false/,
    ],
    [
      "a bad trusted proxy",
      { ...base, trusted_proxies: ["10.0.0.0/33"] },
      "trusted_proxies[0]",
      /prefix length/,
    ],
    [
      "a trusted proxy that is no IP",
      { ...base, trusted_proxies: ["example.com"] },
      "trusted_proxies[0]",
      /CIDR/,
    ],
    ["an http proxy", { ...base, proxy: "http://127.0.0.1:3128" }, "proxy", /not supported/],
    ["a health type", { ...base, health: { type: "udp" } }, "health.type", /"tcp", "http"/],
    ["a health rise of 0", { ...base, health: { rise: 0 } }, "health.rise", /at least 1/],
    [
      "a health path without /",
      { ...base, health: { type: "http", path: "health" } },
      "health.path",
      /starting with/,
    ],
    [
      "a health status of 700",
      { ...base, health: { type: "http", status: 700 } },
      "health.status",
      /at most 599/,
    ],
    [
      "every backend malformed",
      { ...base, backends: ["x", "y:0"] },
      "backends",
      /no valid backend/,
    ],
  ];
  for (const [what, raw, field, re] of malformed) {
    it(`drops a service with ${what}, naming "${field}"`, () => {
      const clean = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
      const d = one(clean);
      assert.equal(d.services.length, 0);
      const p = d.problems.find((x) => x.field === field);
      assert.ok(p, `no problem on ${field}: ${JSON.stringify(d.problems)}`);
      assert.match(p.reason, re);
      assert.match(p.reason, /service dropped/);
      assert.equal(p.source, "test");
      assert.equal(p.service, typeof clean.name === "string" && clean.name ? clean.name : "#0");
    });
  }

  it("reports every malformed field of one service", () => {
    const d = one({ ...base, balance: "x", connect_attempts: -1, listener: "nope" });
    assert.equal(d.services.length, 0);
    assert.deepEqual(d.problems.map((p) => p.field).sort(), [
      "balance",
      "connect_attempts",
      "listener",
    ]);
  });

  it("drops only a malformed backend entry and keeps the service", () => {
    const d = one({
      ...base,
      backends: [
        "127.0.0.1:1",
        "nope",
        { address: "127.0.0.1:2", weight: -1 },
        42,
        { weight: 1 },
        "[::1]:3",
      ],
    });
    assert.deepEqual(d.services[0]?.backends.map((b) => b.address), ["127.0.0.1:1", "[::1]:3"]);
    assert.deepEqual(d.problems.map((p) => p.field), [
      "backends[1]",
      "backends[2].weight",
      "backends[3]",
      "backends[4].address",
    ]);
    for (const p of d.problems) assert.match(p.reason, /backend dropped/);
  });

  it("warns about unknown keys with a hint and keeps the service", () => {
    const d = one({
      ...base,
      backends: [{ address: "127.0.0.1:1", wieght: 2 }],
      listner: "x",
      health: { type: "tcp", intervall: "1s" },
      zzz: 1,
    });
    assert.equal(d.services.length, 1);
    const byField = Object.fromEntries(d.problems.map((p) => [p.field, p.reason]));
    assert.match(byField["listner"] ?? "", /unknown key, ignored \(did you mean "listener"\?\)/);
    assert.match(byField["backends[0].wieght"] ?? "", /did you mean "weight"/);
    assert.match(byField["health.intervall"] ?? "", /did you mean "interval"/);
    assert.equal(byField["zzz"], "unknown key, ignored");
  });

  it("names a service without a name by its position", () => {
    const d = validateServices([base, { listener: "local:1", backends: [] }, "text"], "f.toml");
    assert.deepEqual(d.services.map((s) => s.name), ["svc"]);
    assert.deepEqual(d.problems.map((p) => [p.service, p.field]), [["#1", "name"], ["#2", ""]]);
  });

  it("never puts a proxy password in a problem", () => {
    const d = one({ ...base, proxy: "http://user:hunter2@127.0.0.1:1" });
    const p = only(d.problems);
    assert.equal(p.field, "proxy");
    assert.doesNotMatch(p.reason, /hunter2/);
  });

  it("accepts host names as backends and normalises the address", () => {
    const d = one({ ...base, backends: [" db.internal:5432 ", { address: "[::1]:80" }] });
    assert.deepEqual(d.services[0]?.backends.map((b) => [b.address, b.host, b.port]), [
      ["db.internal:5432", "db.internal", 5432],
      ["[::1]:80", "::1", 80],
    ]);
  });

  it("validates the raw objects Consul and Nomad providers build", () => {
    const d = validateServices([{
      name: "web",
      listeners: ["local:5555"],
      backends: [{ address: "10.0.0.1:80", weight: 3, tier: 0 }],
      proxy: "socks5://10.0.0.5:1080",
      balance: "weighted",
      proxy_protocol: "v1",
      max_connections: 5,
    }], "consul");
    assert.deepEqual(d.problems, []);
    assert.deepEqual(d.services[0]?.settings, {
      balance: "weighted",
      proxyProtocol: "v1",
      maxConnections: 5,
    });
  });
});
