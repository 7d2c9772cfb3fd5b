// dyntcp's README, walked against a running sluice: its three config examples (top-level
// `[consul]`, `listeners`, `peek`, `runtime`) load unchanged, with a one-line notice that
// `consul` is read as `routing.consul`; DYNTCP_* variables work like DILL_*; and services
// tagged `dyntcp` / `dyntcp.listener=...` in Consul (the emulator) are routed with no tag set.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { loadConfig } from "../../src/config/load.ts";
import { buildRawServices } from "../../src/providers/tags.ts";
import { nomadTaggedServices } from "../../src/providers/nomad.ts";
import { type ConsulEmulator, startConsulEmulator } from "../_support/consul_emulator.ts";
import {
  fetchBanner,
  freePort,
  ROOT,
  runtime,
  spawnSluice,
  startNamedServer,
  type TestServer,
} from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";

const DIR = join(ROOT, "tests/fixtures/seeds/dyntcp");
const FORMATS = ["toml", "yaml", "json"] as const;

let rt: Runtime;
before(async () => {
  rt = await runtime();
});

describe("dyntcp: its config examples", () => {
  it("load unchanged in TOML, YAML and JSON, consul read as routing.consul", async () => {
    const all = await Promise.all(
      FORMATS.map((f) => loadConfig({ path: join(DIR, `config.${f}`), env: {} })),
    );
    for (const [i, c] of all.entries()) {
      const f = FORMATS[i];
      assert.deepEqual(c.listeners.allowed, { local: "127.0.0.1", any: "0.0.0.0" }, f);
      assert.equal(c.listeners.portMin, 1024, f);
      assert.equal(c.listeners.portMax, 49151, f);
      assert.equal(c.routing.consul?.address, "http://127.0.0.1:8500", f);
      assert.deepEqual(c.routing.consul?.legacyTags, ["dill", "dyntcp"], f);
      assert.equal(c.peek.listener, "127.0.0.1:4141", f);
      assert.equal(c.runtime.workers, 4, f);
      assert.equal(c.notices?.length, 1, f);
      assert.match(c.notices![0]!, /"consul" \(dyntcp's key\) is read as "routing\.consul"/);
    }
  });

  it("DYNTCP_ variables from its README are read, over the file", async () => {
    const c = await loadConfig({
      path: join(DIR, "config.toml"),
      env: { DYNTCP_CONSUL_ADDRESS: "http://10.0.0.1:8500", DYNTCP_LISTENERS_PORT_MIN: "1234" },
    });
    assert.equal(c.routing.consul?.address, "http://10.0.0.1:8500");
    assert.equal(c.listeners.portMin, 1234);
  });
});

describe("dyntcp: tags read with their own prefix", () => {
  it("each instance uses the first tag of the list that routes it; tags never mix", () => {
    const legacy = new Set<string>();
    const raw = buildRawServices(
      [
        {
          service: "a",
          id: "1",
          host: "10.0.0.1",
          port: 1,
          tags: ["dyntcp", "dyntcp.listener=local:2000"],
        },
        // Both: sluice's own tag wins, and the dill.proxy tag is not applied to it.
        {
          service: "b",
          id: "2",
          host: "10.0.0.2",
          port: 1,
          tags: [
            "sluice",
            "sluice.listener=local:3000",
            "dill",
            "dill.listener=local:4000",
            "dill.proxy=socks5://h:1",
          ],
        },
        // A dill tag without a dill listener, with a sluice listener: not routed.
        {
          service: "c",
          id: "3",
          host: "10.0.0.3",
          port: 1,
          tags: ["dill", "sluice.listener=local:5000"],
        },
      ],
      ["sluice", "dill", "dyntcp"],
      [],
      legacy,
    );
    assert.deepEqual(raw, [
      { name: "a", listeners: ["local:2000"], backends: [{ address: "10.0.0.1:1" }] },
      { name: "b", listeners: ["local:3000"], backends: [{ address: "10.0.0.2:1" }] },
    ]);
    assert.deepEqual([...legacy], ["a"]);
  });
});

describe("dyntcp: Nomad lists services by any of the tags", () => {
  it("takes a service whose tag union holds sluice, dill or dyntcp", () => {
    const body = [{
      Namespace: "default",
      Services: [
        { ServiceName: "a", Tags: ["dyntcp"] },
        { ServiceName: "b", Tags: ["other"] },
        { ServiceName: "c", Tags: null },
        { ServiceName: "d", Tags: ["sluice"] },
      ],
    }];
    assert.deepEqual(nomadTaggedServices(body, ["sluice", "dill", "dyntcp"]).map((s) => s.name), [
      "a",
      "d",
    ]);
    assert.deepEqual(nomadTaggedServices(body, "dyntcp").map((s) => s.name), ["a"]);
  });
});

describe("dyntcp: a running sluice on its config and tags", () => {
  let emu: ConsulEmulator;
  let server: TestServer;
  let port = 0;

  before(async () => {
    emu = await startConsulEmulator();
    server = startNamedServer(rt, "dyntcp-backend");
    port = await freePort(rt);
    emu.register({
      id: "web-1",
      name: "web",
      address: "127.0.0.1",
      port: server.port,
      tags: ["dyntcp", `dyntcp.listener=local:${port}`],
    });
  });
  after(async () => {
    server.close();
    await emu.close();
  });

  for (const f of FORMATS) {
    it(`$ dyntcp -c config.${f}: routes a dyntcp-tagged service`, { timeout: 60_000 }, async () => {
      const p = spawnSluice(rt, ["-c", join(DIR, `config.${f}`)], {
        env: {
          // The example's Consul is the emulator here; the ports and workers fit a test.
          DYNTCP_CONSUL_ADDRESS: emu.url,
          DYNTCP_LISTENERS_PORT_MAX: "65535",
          DYNTCP_PEEK_LISTENER: "",
          DYNTCP_RUNTIME_GOMAXPROCS: "1",
          SLUICE_ADMIN_LISTENER: "",
        },
      });
      try {
        const notice = await p.waitForLine(/dyntcp's key/, 20_000);
        assert.match(notice, /is read as \\?"routing\.consul/);
        await waitFor(
          async () => (await fetchBanner(rt, port).catch(() => "")) === "dyntcp-backend",
          {
            timeoutMs: 20_000,
            what: "the dyntcp-tagged service",
          },
        );
        const legacy = await p.waitForLine(/services routed by a legacy tag/, 5000);
        assert.match(legacy, /services=1/);
      } finally {
        p.signal("SIGTERM");
        await p.exited(15_000).catch(() => p.kill());
      }
    });
  }
});
