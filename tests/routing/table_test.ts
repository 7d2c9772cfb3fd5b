// The table builder: labels, inclusive port range, shared pools, settings precedence, defaults.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { buildTable } from "../../src/routing/table.ts";
import { tableConfigFrom } from "../../src/config/table_config.ts";
import { validateServices } from "../../src/routing/service.ts";
import { DEFAULT_CONFIG, DEFAULT_SETTINGS } from "../../src/config/resolve.ts";
import type { ProviderRoutes, ServiceSpec, TableConfig } from "../../src/routing/types.ts";

const cfg: TableConfig = {
  allowed: { local: "127.0.0.1", any: "0.0.0.0", v6: "::", lo: "127.0.0.1" },
  portMin: 2000,
  portMax: 3000,
  defaults: DEFAULT_SETTINGS,
};

function specs(raw: unknown[]): ServiceSpec[] {
  const d = validateServices(raw, "t");
  assert.deepEqual(d.problems, []);
  return d.services;
}

function file(raw: unknown[]): ProviderRoutes[] {
  return [{ provider: "file", services: specs(raw) }];
}

describe("buildTable()", () => {
  it("resolves labels to addresses and keys listeners by host:port", () => {
    const { table, problems } = buildTable(
      file([
        { name: "a", listener: "local:2500", backends: ["10.0.0.1:1"] },
        { name: "b", listener: "v6:2500", backends: ["10.0.0.2:1"] },
      ]),
      cfg,
    );
    assert.deepEqual(problems, []);
    assert.deepEqual([...table.listeners.keys()], ["127.0.0.1:2500", "[::]:2500"]);
    const v6 = table.listeners.get("[::]:2500");
    assert.equal(v6?.host, "::");
    assert.equal(v6?.label, "v6");
    assert.equal(v6?.port, 2500);
  });

  it("drops a listener with an unknown label, naming the service and the known labels", () => {
    const { table, problems } = buildTable(
      file([{ name: "a", listeners: ["public:2500", "local:2501"], backends: ["10.0.0.1:1"] }]),
      cfg,
    );
    assert.deepEqual([...table.listeners.keys()], ["127.0.0.1:2501"]);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.service, "a");
    assert.equal(problems[0]?.field, "listeners[0]");
    assert.equal(problems[0]?.source, "file");
    assert.match(
      problems[0]?.reason ?? "",
      /"public" is not in listeners\.allowed \(known: "any", "lo", "local", "v6"\)/,
    );
  });

  it("treats port_min and port_max as inclusive", () => {
    const ports = [1999, 2000, 3000, 3001];
    const { table, problems } = buildTable(
      file(ports.map((p) => ({ name: `s${p}`, listener: `local:${p}`, backends: ["10.0.0.1:1"] }))),
      cfg,
    );
    assert.deepEqual([...table.listeners.keys()], ["127.0.0.1:2000", "127.0.0.1:3000"]);
    assert.deepEqual(problems.map((p) => p.service), ["s1999", "s3001"]);
    for (const p of problems) {
      assert.equal(p.field, "listener");
      assert.match(p.reason, /outside listeners\.port_min\.\.port_max \(2000\.\.3000, inclusive\)/);
    }
  });

  it("applies defaults to settings a service leaves unset", () => {
    const defaults = { ...DEFAULT_SETTINGS, connectAttempts: 7, balance: "least_conn" as const };
    const { table } = buildTable(
      file([{ name: "a", listener: "local:2000", backends: [], connect_attempts: 2 }]),
      { ...cfg, defaults },
    );
    const l = table.listeners.get("127.0.0.1:2000");
    assert.deepEqual(l?.settings, { ...defaults, connectAttempts: 2 });
    assert.deepEqual(l?.accept, { acceptProxyProtocol: false, trustedProxies: [] });
  });

  it("shares one pool between services on the same listener, merging identical backends once", () => {
    const { table } = buildTable(
      [
        {
          provider: "file",
          services: specs([
            { name: "b", listener: "local:2000", backends: ["10.0.0.2:1", "10.0.0.9:1"] },
            { name: "a", listener: "lo:2000", backends: ["10.0.0.1:1", "10.0.0.9:1"] },
          ]),
        },
        {
          provider: "consul",
          services: specs([{
            name: "c",
            listener: "local:2000",
            backends: ["10.0.0.9:1"],
            proxy: "socks5://u:p@10.0.0.5:1080",
          }]),
        },
      ],
      cfg,
    );
    assert.equal(table.listeners.size, 1);
    const l = table.listeners.get("127.0.0.1:2000");
    assert.deepEqual(l?.services, ["a", "b", "c"]);
    assert.equal(l?.label, "lo", "label of the service that sorts first");
    assert.deepEqual(l?.backends.map((b) => [b.key, b.service]), [
      ["10.0.0.1:1", "a"],
      ["10.0.0.9:1", "a"],
      ["10.0.0.2:1", "b"],
      ["socks5://u:***@10.0.0.5:1080 ➤ 10.0.0.9:1", "c"],
    ]);
    assert.deepEqual(l?.backends[3]?.proxy, {
      scheme: "socks5",
      host: "10.0.0.5",
      port: 1080,
      username: "u",
      password: "p",
    });
    assert.equal("proxy" in (l?.backends[0] ?? {}), false);
  });

  it("takes listener settings from the service whose name sorts first and warns the others", () => {
    const { table, problems } = buildTable(
      file([
        {
          name: "zeta",
          listener: "local:2000",
          backends: ["10.0.0.2:1"],
          balance: "random",
          max_connections: 5,
        },
        { name: "alpha", listener: "local:2000", backends: ["10.0.0.1:1"], balance: "least_conn" },
        { name: "mid", listener: "local:2000", backends: ["10.0.0.3:1"], balance: "least_conn" },
      ]),
      cfg,
    );
    const l = table.listeners.get("127.0.0.1:2000");
    assert.equal(l?.settings.balance, "least_conn");
    assert.equal(l?.settings.maxConnections, 0);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.service, "zeta");
    assert.equal(problems[0]?.field, "balance, max_connections");
    assert.match(problems[0]?.reason ?? "", /differs from service "alpha"/);
  });

  it("warns when accept settings differ too", () => {
    const { problems } = buildTable(
      file([
        { name: "a", listener: "local:2000", backends: [] },
        {
          name: "b",
          listener: "local:2000",
          backends: [],
          accept_proxy_protocol: true,
          trusted_proxies: ["10.0.0.0/8"],
        },
      ]),
      cfg,
    );
    assert.deepEqual(problems.map((p) => [p.service, p.field]), [[
      "b",
      "accept_proxy_protocol, trusted_proxies",
    ]]);
  });

  it("is deterministic whatever the order of providers and services", () => {
    const s1 = specs([
      { name: "a", listener: "local:2001", backends: ["10.0.0.1:1"] },
      { name: "b", listener: "local:2001", backends: ["10.0.0.2:1"] },
      { name: "c", listener: "any:2000", backends: ["10.0.0.3:1"] },
    ]);
    const s2 = specs([{ name: "d", listener: "local:2010", backends: ["10.0.0.4:1"] }]);
    const one = buildTable(
      [{ provider: "p1", services: s1 }, { provider: "p2", services: s2 }],
      cfg,
    );
    const two = buildTable([{ provider: "p2", services: s2 }, {
      provider: "p1",
      services: [...s1].reverse(),
    }], cfg);
    assert.deepEqual([...one.table.listeners.entries()], [...two.table.listeners.entries()]);
    assert.deepEqual([...one.table.listeners.keys()], [
      "0.0.0.0:2000",
      "127.0.0.1:2001",
      "127.0.0.1:2010",
    ]);
  });

  it("sorts listeners by host, then by port as a number", () => {
    const { table } = buildTable(
      file(
        [2999, 2100, 2020].map((p) => ({ name: `s${p}`, listener: `local:${p}`, backends: [] })),
      ),
      cfg,
    );
    assert.deepEqual([...table.listeners.keys()], [
      "127.0.0.1:2020",
      "127.0.0.1:2100",
      "127.0.0.1:2999",
    ]);
  });

  it("builds an empty table from no routes", () => {
    assert.equal(buildTable([], cfg).table.listeners.size, 0);
  });

  it("tableConfigFrom() takes labels, range and defaults from the main config", () => {
    assert.deepEqual(tableConfigFrom(DEFAULT_CONFIG), {
      allowed: { local: "127.0.0.1", any: "0.0.0.0" },
      portMin: 1024,
      portMax: 49151,
      defaults: DEFAULT_SETTINGS,
    });
  });
});
