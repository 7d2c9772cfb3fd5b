// Tag parsing and the instance -> raw service mapping shared by the Consul and Nomad providers.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  buildRawServices,
  readInstanceTags,
  type TaggedInstance,
} from "../../src/providers/tags.ts";
import { validateServices } from "../../src/routing/service.ts";

function inst(o: Partial<TaggedInstance> & { tags: string[] }): TaggedInstance {
  return { service: "web", id: "i1", host: "10.0.0.1", port: 80, ...o };
}

describe("readInstanceTags", () => {
  const cases: { name: string; tag?: string; tags: string[]; want: unknown; notes?: number }[] = [
    { name: "no marker tag: not routed", tags: ["sluice.listener=local:80"], want: undefined },
    { name: "marker without listener: not routed", tags: ["sluice"], want: undefined },
    {
      name: "marker and listener",
      tags: ["sluice", "sluice.listener=local:80"],
      want: { listeners: ["local:80"] },
    },
    {
      name: "several listeners, de-duplicated and sorted",
      tags: [
        "sluice",
        "sluice.listener=local:81",
        "sluice.listener=any:80",
        "sluice.listener=local:81",
      ],
      want: { listeners: ["any:80", "local:81"] },
    },
    {
      name: "sni repeatable, de-duplicated and sorted",
      tags: [
        "sluice",
        "sluice.listener=any:443",
        "sluice.sni=*.apps.example.com",
        "sluice.sni=db.example.com",
        "sluice.sni=*.apps.example.com",
      ],
      want: { listeners: ["any:443"], sni: ["*.apps.example.com", "db.example.com"] },
    },
    {
      name: "every optional tag; numbers parsed",
      tags: [
        "sluice",
        "sluice.listener=local:80",
        "sluice.proxy=socks5://u:p@127.0.0.1:1080",
        "sluice.balance=least_conn",
        "sluice.weight=3",
        "sluice.tier=1",
        "sluice.proxy_protocol=v2",
        "sluice.max_connections=100",
      ],
      want: {
        listeners: ["local:80"],
        proxy: "socks5://u:p@127.0.0.1:1080",
        balance: "least_conn",
        weight: 3,
        tier: 1,
        proxy_protocol: "v2",
        max_connections: 100,
      },
    },
    {
      name: "a value holding '=' is kept whole (dill truncates it)",
      tags: ["sluice", "sluice.listener=local:80", "sluice.proxy=socks5://u:a=b@127.0.0.1:1080"],
      want: { listeners: ["local:80"], proxy: "socks5://u:a=b@127.0.0.1:1080" },
    },
    {
      name: "a non-numeric weight stays text so validation names it",
      tags: ["sluice", "sluice.listener=local:80", "sluice.weight=heavy"],
      want: { listeners: ["local:80"], weight: "heavy" },
    },
    {
      name: 'tag = "dill" reads dill tags and ignores sluice ones',
      tag: "dill",
      tags: ["dill", "dill.listener=local:5555", "sluice.listener=local:1"],
      want: { listeners: ["local:5555"] },
    },
    {
      name: "unknown keys and a repeated key are noted; the first value wins",
      tags: [
        "sluice",
        "sluice.listener=local:80",
        "sluice.colour=red",
        "sluice.tier=1",
        "sluice.tier=2",
      ],
      want: { listeners: ["local:80"], tier: 1 },
      notes: 2,
    },
    {
      name: "a prefix-alike tag is not ours",
      tags: ["sluice", "sluicey.listener=local:1", "sluice.listener=local:80"],
      want: { listeners: ["local:80"] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const notes: string[] = [];
      assert.deepEqual(readInstanceTags(c.tags, c.tag ?? "sluice", notes), c.want);
      if (c.notes !== undefined) assert.equal(notes.length, c.notes, notes.join("; "));
    });
  }
});

describe("readInstanceTags notes", () => {
  it("never show a proxy password, even one that does not parse", () => {
    const notes: string[] = [];
    const got = readInstanceTags(
      [
        "sluice",
        "sluice.listener=local:80",
        "sluice.proxy=socks5://user:se/cretX9@10.0.0.1:1080",
        "sluice.proxy=socks5://user:other@10.0.0.1:1080",
        "sluice.proxy socks5://user:p@Zq7@host:99999",
      ],
      "sluice",
      notes,
    );
    assert.equal(got?.proxy, "socks5://user:se/cretX9@10.0.0.1:1080");
    assert.equal(notes.length, 2, notes.join("; "));
    const text = notes.join("\n");
    for (const secret of ["se/cretX9", "cretX9", "p@Zq7", "Zq7"]) {
      assert.equal(text.includes(secret), false, text);
    }
    assert.match(text, /user:\*\*\*@/);
  });
});

describe("buildRawServices", () => {
  it("groups instances of one service; backends sorted; equal for any input order", () => {
    const a = [
      inst({ id: "2", host: "10.0.0.2", tags: ["sluice", "sluice.listener=local:80"] }),
      inst({
        id: "1",
        host: "10.0.0.1",
        tags: ["sluice", "sluice.listener=local:80", "sluice.weight=2"],
      }),
      inst({
        service: "db",
        id: "9",
        host: "10.0.0.9",
        port: 5432,
        tags: ["sluice", "sluice.listener=any:5432"],
      }),
    ];
    const out = buildRawServices(a, "sluice");
    assert.deepEqual(out, [
      { name: "db", listeners: ["any:5432"], backends: [{ address: "10.0.0.9:5432" }] },
      {
        name: "web",
        listeners: ["local:80"],
        backends: [{ address: "10.0.0.1:80", weight: 2 }, { address: "10.0.0.2:80" }],
      },
    ]);
    assert.deepEqual(buildRawServices([...a].reverse(), "sluice"), out);
  });

  it("instances asking for different listeners become one service per listener set", () => {
    const out = buildRawServices([
      inst({ id: "old", host: "10.0.0.1", tags: ["sluice", "sluice.listener=local:5555"] }),
      inst({ id: "new", host: "10.0.0.2", tags: ["sluice", "sluice.listener=local:5556"] }),
    ], "sluice");
    assert.deepEqual(out.map((s) => [s.name, s.listeners]), [
      ["web[local:5555]", ["local:5555"]],
      ["web[local:5556]", ["local:5556"]],
    ]);
  });

  it("instances with different proxies never share one proxy", () => {
    const out = buildRawServices([
      inst({
        id: "1",
        host: "10.0.0.1",
        tags: ["sluice", "sluice.listener=local:80", "sluice.proxy=socks5://127.0.0.1:1080"],
      }),
      inst({ id: "2", host: "10.0.0.2", tags: ["sluice", "sluice.listener=local:80"] }),
    ], "sluice");
    assert.equal(out.length, 2);
    assert.deepEqual(out.map((s) => s.name), ["web[local:80]", "web[local:80]#2"]);
    assert.deepEqual(
      out.map((s) => s.proxy ?? null).sort(),
      [null, "socks5://127.0.0.1:1080"].sort(),
    );
  });

  it("weight: the tag wins over Weights.Passing, which wins over the default", () => {
    const out = buildRawServices([
      inst({
        id: "1",
        host: "10.0.0.1",
        defaultWeight: 5,
        tags: ["sluice", "sluice.listener=local:80"],
      }),
      inst({
        id: "2",
        host: "10.0.0.2",
        defaultWeight: 5,
        tags: ["sluice", "sluice.listener=local:80", "sluice.weight=1"],
      }),
      inst({
        id: "3",
        host: "10.0.0.3",
        tags: ["sluice", "sluice.listener=local:80", "sluice.tier=2"],
      }),
    ], "sluice");
    assert.deepEqual(out[0]!.backends, [
      { address: "10.0.0.1:80", weight: 5 },
      { address: "10.0.0.2:80", weight: 1 },
      { address: "10.0.0.3:80", tier: 2 },
    ]);
  });

  it("IPv6 hosts are bracketed and validate", () => {
    const raw = buildRawServices([
      inst({ host: "2001:db8::7", port: 5432, tags: ["sluice", "sluice.listener=local:5432"] }),
    ], "sluice");
    assert.deepEqual(raw[0]!.backends, [{ address: "[2001:db8::7]:5432" }]);
    const { services, problems } = validateServices(raw, "consul");
    assert.deepEqual(problems, []);
    assert.equal(services[0]!.backends[0]!.host, "2001:db8::7");
  });

  it("two instances on one address give one backend", () => {
    const out = buildRawServices([
      inst({ id: "a", tags: ["sluice", "sluice.listener=local:80", "sluice.weight=4"] }),
      inst({ id: "b", tags: ["sluice", "sluice.listener=local:80"] }),
    ], "sluice");
    assert.deepEqual(out[0]!.backends, [{ address: "10.0.0.1:80", weight: 4 }]);
  });

  it("sni tags become the service's sni list; instances naming other names are grouped apart", () => {
    const raw = buildRawServices([
      inst({
        service: "db",
        id: "1",
        host: "10.0.0.1",
        tags: ["sluice", "sluice.listener=local:443", "sluice.sni=DB.example.com."],
      }),
      inst({
        service: "db",
        id: "2",
        host: "10.0.0.2",
        tags: ["sluice", "sluice.listener=local:443", "sluice.sni=db2.example.com"],
      }),
      inst({ service: "web", tags: ["sluice", "sluice.listener=local:443"] }),
    ], "sluice");
    assert.deepEqual(raw.map((s) => [s.sni, s.backends]), [
      [["DB.example.com."], [{ address: "10.0.0.1:80" }]],
      [["db2.example.com"], [{ address: "10.0.0.2:80" }]],
      [undefined, [{ address: "10.0.0.1:80" }]],
    ]);
    const { services, problems } = validateServices(raw, "consul");
    assert.deepEqual(problems, []);
    assert.deepEqual(services.map((s) => s.sni), [
      ["db.example.com"],
      ["db2.example.com"],
      undefined,
    ]);
  });

  it("bad tag values reach validation, which drops only that service", () => {
    const raw = buildRawServices([
      inst({
        service: "a",
        tags: ["sluice", "sluice.listener=local:80", "sluice.balance=fastest"],
      }),
      inst({ service: "b", tags: ["sluice", "sluice.listener=nolabel"] }),
      inst({ service: "c", tags: ["sluice", "sluice.listener=local:81", "sluice.weight=heavy"] }),
      inst({ service: "d", tags: ["sluice", "sluice.listener=local:82"] }),
    ], "sluice");
    const { services, problems } = validateServices(raw, "consul");
    assert.deepEqual(services.map((s) => s.name), ["d"]);
    assert.deepEqual([...new Set(problems.map((p) => p.service))].sort(), ["a", "b", "c"]);
  });
});

describe("<tag>.disabled", () => {
  it("disables one instance's backend; a bad value is reported by validation", () => {
    const raw = buildRawServices([
      inst({ id: "a", tags: ["sluice", "sluice.listener=local:80", "sluice.disabled=true"] }),
      inst({ id: "b", host: "10.0.0.2", tags: ["sluice", "sluice.listener=local:80"] }),
      inst({
        id: "c",
        host: "10.0.0.3",
        tags: ["sluice", "sluice.listener=local:80", "sluice.disabled=false"],
      }),
    ], "sluice");
    assert.deepEqual(raw[0]?.backends, [
      { address: "10.0.0.1:80", disabled: true },
      { address: "10.0.0.2:80" },
      { address: "10.0.0.3:80", disabled: false },
    ]);
    const bad = buildRawServices([
      inst({ tags: ["sluice", "sluice.listener=local:80", "sluice.disabled=yes"] }),
    ], "sluice");
    const d = validateServices(bad, "consul");
    assert.match(d.problems[0]?.field ?? "", /backends\[0\]\.disabled/);
  });
});

describe("<tag>.group", () => {
  it("sets the backend's group and does not split the service", () => {
    const raw = buildRawServices([
      inst({ id: "a", tags: ["sluice", "sluice.listener=local:80", "sluice.group=rack1"] }),
      inst({ id: "b", host: "10.0.0.2", tags: ["sluice", "sluice.listener=local:80"] }),
    ], "sluice");
    assert.equal(raw.length, 1);
    assert.deepEqual(raw[0]?.backends, [
      { address: "10.0.0.1:80", group: "rack1" },
      { address: "10.0.0.2:80" },
    ]);
    assert.equal(validateServices(raw, "consul").services[0]?.backends[0]?.group, "rack1");
  });
});
