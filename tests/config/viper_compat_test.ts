// dill's and dyntcp's Viper habits in the main config: the provider short forms of the
// environment variables (DILL_CONSUL_ADDRESS), the DYNTCP_ prefix, and the HCL, envfile and
// Java properties formats, which give the same keys and the same errors as TOML.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/errors.ts";
import { loadConfig } from "../../src/config/load.ts";
import { envNames } from "../../src/config/layers.ts";
import { unwrapBlocks } from "../../src/config/viper_formats.ts";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-viper-test-"));
});
after(() => rm(dir, { recursive: true, force: true }));

let n = 0;
async function file(text: string, ext: string): Promise<string> {
  const path = join(dir, `c${n++}.${ext}`);
  await writeFile(path, text);
  return path;
}

async function configError(o: Parameters<typeof loadConfig>[0]): Promise<string[]> {
  try {
    await loadConfig(o);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems.map((p) => p.message);
  }
  return assert.fail("expected a ConfigError");
}

describe("environment variables: short provider forms and DYNTCP_", () => {
  it("lists the names strongest first", () => {
    assert.deepEqual(envNames("routing.consul.address"), [
      "SLUICE_ROUTING_CONSUL_ADDRESS",
      "SLUICE_CONSUL_ADDRESS",
      "DILL_ROUTING_CONSUL_ADDRESS",
      "DILL_CONSUL_ADDRESS",
      "DYNTCP_ROUTING_CONSUL_ADDRESS",
      "DYNTCP_CONSUL_ADDRESS",
    ]);
    assert.deepEqual(envNames("listeners.port_min"), [
      "SLUICE_LISTENERS_PORT_MIN",
      "DILL_LISTENERS_PORT_MIN",
      "DYNTCP_LISTENERS_PORT_MIN",
    ]);
  });

  it("reads DILL_CONSUL_ADDRESS, dill's own example", async () => {
    const c = await loadConfig({ env: { DILL_CONSUL_ADDRESS: "http://127.0.0.1:8500" } });
    assert.equal(c.routing.consul?.address, "http://127.0.0.1:8500");
  });

  it("reads the short form of every provider and prefix", async () => {
    const c = await loadConfig({
      env: {
        SLUICE_NOMAD_ADDRESS: "http://127.0.0.1:4646",
        DILL_HTTP_ENDPOINT: "http://127.0.0.1:8000/routing.json",
        DILL_HTTP_POLL_INTERVAL: "7s",
        DYNTCP_FILE_PATH: "/tmp/routing.toml",
        DYNTCP_FILE_WATCH: "false",
        DYNTCP_CONSUL_ADDRESS: "http://127.0.0.1:8500",
        DYNTCP_LISTENERS_PORT_MIN: "1234",
      },
    });
    assert.equal(c.routing.nomad?.address, "http://127.0.0.1:4646");
    assert.equal(c.routing.http?.endpoint, "http://127.0.0.1:8000/routing.json");
    assert.equal(c.routing.http?.pollIntervalMs, 7000);
    assert.deepEqual(c.routing.file, { path: "/tmp/routing.toml", watch: false });
    assert.equal(c.routing.consul?.address, "http://127.0.0.1:8500");
    assert.equal(c.listeners.portMin, 1234);
  });

  it("the long form wins within a prefix, a stronger prefix wins over both", async () => {
    const c = await loadConfig({
      env: {
        DILL_CONSUL_ADDRESS: "http://short:8500",
        DILL_ROUTING_CONSUL_ADDRESS: "http://long:8500",
        DYNTCP_ROUTING_NOMAD_ADDRESS: "http://dyntcp-long:4646",
        DILL_NOMAD_ADDRESS: "http://dill-short:4646",
        DILL_LISTENERS_PORT_MIN: "2000",
        DYNTCP_LISTENERS_PORT_MIN: "3000",
      },
    });
    assert.equal(c.routing.consul?.address, "http://long:8500");
    assert.equal(c.routing.nomad?.address, "http://dill-short:4646");
    assert.equal(c.listeners.portMin, 2000);
  });

  it("a bad value names the variable it came from", async () => {
    const lines = await configError({ env: { DYNTCP_CONSUL_WAIT: "soon" } });
    assert.match(
      lines.join("\n"),
      /environment variable DYNTCP_CONSUL_WAIT: routing\.consul\.wait/,
    );
  });
});

const TOML = `[listeners]
port_min = 1024
port_max = 49151

[listeners.allowed]
local = "127.0.0.1"
any = "0.0.0.0"

[routing.consul]
address = "http://127.0.0.1:8500"
wait = "2m"

[peek]
listener = "127.0.0.1:4141"

[runtime]
gomaxprocs = 4
`;

const HCL = `listeners {
  port_min = 1024
  port_max = 49151
  allowed = {
    local = "127.0.0.1"
    any   = "0.0.0.0"
  }
}

routing {
  consul {
    address = "http://127.0.0.1:8500"
    wait    = "2m"
  }
}

peek {
  listener = "127.0.0.1:4141"
}

runtime {
  gomaxprocs = 4
}
`;

const ENV = `# dill's settings as an envfile
LISTENERS_PORT_MIN=1024
LISTENERS_PORT_MAX=49151
LISTENERS_ALLOWED_LOCAL=127.0.0.1
DILL_LISTENERS_ALLOWED_ANY=0.0.0.0
routing.consul.address="http://127.0.0.1:8500"
ROUTING_CONSUL_WAIT=2m
PEEK_LISTENER=127.0.0.1:4141
RUNTIME_GOMAXPROCS=4
`;

const PROPERTIES = `# dill's settings as Java properties
listeners.port_min = 1024
listeners.port_max = 49151
listeners.allowed.local = 127.0.0.1
listeners.allowed.any = 0.0.0.0
routing.consul.address = http://127.0.0.1:8500
routing.consul.wait: 2m
peek.listener = 127.0.0.1:4141
runtime.gomaxprocs = 4
`;

describe("HCL, envfile and properties main configs", () => {
  it("give the same config as the TOML they mirror", async () => {
    const want = await loadConfig({ path: await file(TOML, "toml"), env: {} });
    for (const [text, ext] of [[HCL, "hcl"], [ENV, "env"], [PROPERTIES, "properties"]]) {
      const c = await loadConfig({ path: await file(text as string, ext as string), env: {} });
      const { source: _a, ...got } = c;
      const { source: _b, ...expected } = want;
      assert.deepEqual(got, expected, ext);
    }
    assert.equal(want.runtime.workers, 4);
    assert.equal(want.routing.consul?.waitMs, 120_000);
  });

  it("report an unknown key and a bad value as TOML does", async () => {
    const cases: [string, string][] = [
      ["listeners {\n  port_mn = 1024\n}\npeek {\n  listener = 5\n}\n", "hcl"],
      ["LISTENERS_PORT_MN=1024\nPEEK_LISTENER_X=1\nlisteners.port_mn=1024\n", "env"],
      ["listeners.port_mn = 1024\n", "properties"],
    ];
    for (const [text, ext] of cases) {
      const path = await file(text, ext);
      const lines = await configError({ path, env: {} });
      assert.ok(
        lines.some((l) =>
          l.startsWith(`${path}: listeners.port_mn: unknown key (did you mean "port_min"?)`)
        ),
        `${ext}: ${lines.join("\n")}`,
      );
    }
    const hclBad = await configError({
      path: await file('listeners {\n  port_min = "many"\n}\n', "hcl"),
      env: {},
    });
    assert.match(hclBad.join("\n"), /listeners\.port_min: expected/);
    const envBad = await configError({
      path: await file("LISTENERS_PORT_MIN=many\n", "env"),
      env: {},
    });
    assert.match(envBad.join("\n"), /listeners\.port_min: expected/);
  });

  it("an HCL syntax error is a config error naming the file", async () => {
    const path = await file("listeners {\n  port_min = \n}\n", "hcl");
    const lines = await configError({ path, env: {} });
    assert.deepEqual(lines, [`${path}: not valid HCL (version 2 native syntax)`]);
  });

  it("empty files are empty configs", async () => {
    for (const ext of ["hcl", "env", "properties"]) {
      const c = await loadConfig({ path: await file("\n", ext), env: {} });
      assert.equal(c.listeners.portMin, 1024);
    }
  });

  it("repeated HCL blocks merge, later keys winning", () => {
    assert.deepEqual(
      unwrapBlocks({ listeners: [{ port_min: 1, allowed: { a: "1" } }, { port_min: 2 }] }),
      { listeners: { port_min: 2, allowed: { a: "1" } } },
    );
    assert.deepEqual(unwrapBlocks({ x: [1, 2] }), { x: [1, 2] });
  });
});
