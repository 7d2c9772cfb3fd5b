// Routing by TLS server name in the table: `sni` validated and canonical, per-service routes on a
// shared listener, conflicts reported once naming both services, the rest applied.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { buildTable } from "../../src/routing/table.ts";
import { createTableBuilder } from "../../src/routing/table_builder.ts";
import { validateServices } from "../../src/routing/service.ts";
import { parseRoutingDocument } from "../../src/routing/document.ts";
import { DEFAULT_SETTINGS } from "../../src/config/resolve.ts";
import type { ProviderRoutes, TableConfig } from "../../src/routing/types.ts";

const cfg: TableConfig = {
  allowed: { local: "127.0.0.1" },
  portMin: 2000,
  portMax: 3000,
  defaults: DEFAULT_SETTINGS,
};

function routes(raw: unknown[]): ProviderRoutes[] {
  const d = validateServices(raw, "t");
  assert.deepEqual(d.problems, []);
  return [{ provider: "file", services: d.services }];
}

describe("sni in routing documents", () => {
  it("is canonical: lower case, no trailing dot, duplicates folded", () => {
    const d = validateServices([{
      name: "db",
      listener: "local:2443",
      backends: ["10.0.0.1:5432"],
      sni: ["DB.Example.com.", "db.example.com", "*.Apps.example.com"],
      sni_timeout: "250ms",
    }], "t");
    assert.deepEqual(d.problems, []);
    assert.deepEqual(d.services[0]?.sni, ["db.example.com", "*.apps.example.com"]);
    assert.equal(d.services[0]?.sniTimeoutMs, 250);
  });

  it("a malformed name is dropped alone; no valid name left drops the service", () => {
    const d = validateServices([
      { name: "a", listener: "local:2443", backends: [], sni: ["ok.test", "a..b", "*.*.x"] },
      { name: "b", listener: "local:2443", backends: [], sni: ["bad name"] },
    ], "t");
    assert.deepEqual(d.services.map((s) => [s.name, s.sni]), [["a", ["ok.test"]]]);
    assert.deepEqual(d.problems.map((p) => [p.service, p.field]), [
      ["a", "sni[1]"],
      ["a", "sni[2]"],
      ["b", "sni[0]"],
      ["b", "sni"],
    ]);
  });

  it("TOML, YAML and JSON documents carry it", () => {
    const toml = parseRoutingDocument(
      `[[services]]\nname = "x"\nlistener = "local:2443"\nbackends = []\nsni = ["x.test"]\n`,
      "toml",
      "/r.toml",
    );
    const yaml = parseRoutingDocument(
      `services:\n  - name: x\n    listener: local:2443\n    backends: []\n    sni: [x.test]\n`,
      "yaml",
      "/r.yaml",
    );
    const json = parseRoutingDocument(
      JSON.stringify({
        services: [{ name: "x", listener: "local:2443", backends: [], sni: ["x.test"] }],
      }),
      "json",
      "/r.json",
    );
    for (const d of [toml, yaml, json]) {
      assert.deepEqual(d.problems, []);
      assert.deepEqual(d.services[0]?.sni, ["x.test"]);
    }
  });
});

describe("a listener shared by SNI services", () => {
  it("gets one route per service, the service without sni being the default", () => {
    const { table, problems } = buildTable(
      routes([
        { name: "web", listener: "local:2443", backends: ["10.0.0.3:443"], balance: "least_conn" },
        { name: "db", listener: "local:2443", backends: ["10.0.0.1:443"], sni: ["db.test"] },
        {
          name: "apps",
          listener: "local:2443",
          backends: ["10.0.0.2:443", "10.0.0.1:443"],
          sni: ["*.apps.test"],
          proxy_protocol: "v2",
        },
      ]),
      cfg,
    );
    assert.deepEqual(problems, []);
    const l = table.listeners.get("127.0.0.1:2443")!;
    assert.deepEqual(l.services, ["apps", "db", "web"]);
    assert.equal(l.sni?.timeoutMs, 5000);
    assert.deepEqual(
      l.sni?.routes.map((r) => [r.service, r.names, r.backends.map((b) => b.address)]),
      [
        ["apps", ["*.apps.test"], ["10.0.0.2:443", "10.0.0.1:443"]],
        ["db", ["db.test"], ["10.0.0.1:443"]],
        ["web", [], ["10.0.0.3:443"]],
      ],
    );
    // Per-service settings stay per service.
    assert.equal(l.sni?.routes[0]?.settings.proxyProtocol, "v2");
    assert.equal(l.sni?.routes[2]?.settings.balance, "least_conn");
    // The same address in two services is a backend of each.
    assert.deepEqual(l.backends.map((b) => `${b.service}/${b.address}`), [
      "apps/10.0.0.2:443",
      "apps/10.0.0.1:443",
      "db/10.0.0.1:443",
      "web/10.0.0.3:443",
    ]);
  });

  it("tcpffee keys per service route: port-less, disabled and grouped backends", () => {
    const { table, problems } = buildTable(
      routes([
        {
          name: "db",
          listeners: ["local:2443", "local:2444"],
          sni: ["db.test"],
          backends: ["10.0.0.5", { address: "10.0.0.6:1", disabled: true, group: "g" }],
          stick: { expiration: "1m" },
        },
        { name: "web", listeners: ["local:2443", "local:2444"], backends: ["10.0.0.7:443"] },
      ]),
      cfg,
    );
    assert.deepEqual(problems, []);
    for (const port of [2443, 2444]) {
      const db = table.listeners.get(`127.0.0.1:${port}`)!.sni!.routes[0]!;
      assert.equal(db.service, "db");
      // No port: the port of the listener the client connected to.
      assert.deepEqual(
        db.backends.map((b) => [b.address, b.port, b.disabled, b.group]),
        [[`10.0.0.5:${port}`, port, undefined, undefined], ["10.0.0.6:1", 1, true, "g"]],
      );
      assert.deepEqual(db.settings.stick, { expirationMs: 60_000 });
    }
  });

  it("a listener without sni services stays as it was (one pool, no sni plan)", () => {
    const { table } = buildTable(
      routes([
        { name: "a", listener: "local:2000", backends: ["10.0.0.1:1"] },
        { name: "b", listener: "local:2000", backends: ["10.0.0.2:1"] },
      ]),
      cfg,
    );
    assert.equal(table.listeners.get("127.0.0.1:2000")?.sni, undefined);
  });

  it("two services claiming one name: one warning naming both, the first keeps it", () => {
    const { table, problems } = buildTable(
      routes([
        { name: "b", listener: "local:2443", backends: ["10.0.0.2:1"], sni: ["x.test", "y.test"] },
        { name: "a", listener: "local:2443", backends: ["10.0.0.1:1"], sni: ["X.test", "y.test"] },
      ]),
      cfg,
    );
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.service, "b");
    assert.equal(problems[0]?.field, "sni");
    assert.match(problems[0]!.reason, /"a" and "b" both claim "x\.test", "y\.test"/);
    const r = table.listeners.get("127.0.0.1:2443")?.sni?.routes;
    assert.deepEqual(r?.map((x) => [x.service, x.names]), [["a", ["x.test", "y.test"]]]);
  });

  it("two services without sni: one warning, the first (by name) is the default", () => {
    const { table, problems } = buildTable(
      routes([
        { name: "z", listener: "local:2443", backends: ["10.0.0.2:1"] },
        { name: "y", listener: "local:2443", backends: ["10.0.0.1:1"] },
        { name: "s", listener: "local:2443", backends: ["10.0.0.3:1"], sni: ["s.test"] },
      ]),
      cfg,
    );
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.reason, /"y" and "z"/);
    const r = table.listeners.get("127.0.0.1:2443")?.sni?.routes;
    assert.deepEqual(r?.map((x) => [x.service, x.names]), [["s", ["s.test"]], ["y", []]]);
  });

  it("listener-level settings that differ: one warning naming both, the rest applies", () => {
    const { table, problems } = buildTable(
      routes([
        { name: "a", listener: "local:2443", backends: ["10.0.0.1:1"], sni: ["a.test"] },
        {
          name: "b",
          listener: "local:2443",
          backends: ["10.0.0.2:1"],
          sni: ["b.test"],
          accept_proxy_protocol: true,
          trusted_proxies: ["10.0.0.0/8"],
          sni_timeout: "1s",
          balance: "random", // per service: no warning
        },
      ]),
      cfg,
    );
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.service, "b");
    assert.equal(problems[0]?.field, "accept_proxy_protocol, trusted_proxies");
    assert.match(problems[0]!.reason, /service "a"/);
    const l = table.listeners.get("127.0.0.1:2443")!;
    assert.equal(l.accept.acceptProxyProtocol, false);
    assert.equal(l.sni?.timeoutMs, 1000); // the only service that sets it
    assert.deepEqual(l.sni?.routes.map((r) => r.service), ["a", "b"]);
  });

  it("the incremental builder gives the fresh table", () => {
    const builder = createTableBuilder();
    const steps = [
      [{ name: "d", listener: "local:2443", backends: ["10.0.0.1:1"] }],
      [
        { name: "d", listener: "local:2443", backends: ["10.0.0.1:1"] },
        { name: "s", listener: "local:2443", backends: ["10.0.0.2:1"], sni: ["s.test"] },
      ],
      [{ name: "s", listener: "local:2443", backends: ["10.0.0.2:1"], sni: ["s.test"] }],
    ];
    for (const raw of steps) {
      const r = routes(raw);
      const got = builder.build(r, cfg);
      const want = buildTable(r, cfg);
      assert.deepEqual(got.table.listeners, want.table.listeners);
      assert.deepEqual(got.problems, want.problems);
    }
  });
});
