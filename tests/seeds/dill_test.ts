// dill's README, walked against a running sluice: getting started (`-config`, a watched
// routing file, listeners.allowed labels), the live update that opens a new port, every config
// format dill reads through Viper (TOML, YAML, JSON, HCL, envfile, properties), its
// environment variables in both forms (DILL_CONSUL_ADDRESS and DILL_ROUTING_CONSUL_ADDRESS),
// and Consul tags with the default tag setting (sluice, dill and dyntcp tags all routed) and
// with a configured tag (exactly that one). Consul is the emulator.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { loadConfig } from "../../src/config/load.ts";
import { type ConsulEmulator, startConsulEmulator } from "../_support/consul_emulator.ts";
import {
  fetchBanner,
  freePort,
  ROOT,
  runtime,
  type SluiceProcess,
  spawnSluice,
  startNamedServer,
  tempDir,
  type TestServer,
} from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";

let rt: Runtime;
before(async () => {
  rt = await runtime();
});

/** Free ports may lie above dill's port_max; admin's and peek's fixed ports may be taken. */
const TEST_ENV = {
  DILL_LISTENERS_PORT_MAX: "65535",
  SLUICE_ADMIN_LISTENER: "",
  DILL_PEEK_LISTENER: "",
};

function banner(port: number): Promise<string> {
  return fetchBanner(rt, port).catch(() => "");
}

async function servedBy(port: number, names: string[], what: string): Promise<void> {
  const seen = new Set<string>();
  await waitFor(async () => {
    seen.add(await banner(port));
    return names.every((n) => seen.has(n));
  }, { timeoutMs: 20_000, intervalMs: 25, what: `${what}: port ${port} to reach ${names}` });
}

async function refused(port: number, what: string): Promise<void> {
  await waitFor(async () => (await banner(port)) === "", { timeoutMs: 10_000, what });
}

async function stop(p: SluiceProcess | undefined): Promise<void> {
  if (!p) return;
  p.signal("SIGTERM");
  await p.exited(15_000).catch(() => p.kill());
}

async function replace(path: string, text: string): Promise<void> {
  await writeFile(path + ".tmp", text);
  await rename(path + ".tmp", path);
}

describe("dill: getting started and live update", () => {
  let servers: TestServer[] = [];
  let p: SluiceProcess | undefined;
  let dir: { path: string; remove(): Promise<void> };

  before(async () => {
    servers = ["s1", "s2", "s3"].map((n) => startNamedServer(rt, n));
    dir = await tempDir("sluice-dill-");
  });
  after(async () => {
    await stop(p);
    for (const s of servers) s.close();
    await dir.remove();
  });

  it("opens the routing file's port, then the new one the file adds", {
    timeout: 90_000,
  }, async () => {
    const [s1, s2, s3] = servers as [TestServer, TestServer, TestServer];
    const [foo, bar] = [await freePort(rt), await freePort(rt)];
    const routing = join(dir.path, "routing.toml");
    // /etc/dill/config.toml of the README; `any` is loopback here (tests bind nothing else).
    await writeFile(
      join(dir.path, "config.toml"),
      `# /etc/dill/config.toml
[routing.file]
# Path to the file containing service definitions
path = "${routing}"
# Automatically reload routing when the file changes
watch = true
# Define which listener labels map to which IP addresses
[listeners.allowed]
local = "127.0.0.1"
any = "127.0.0.1"
`,
    );
    await writeFile(
      routing,
      `[[services]]
name = "foo"
listener = "any:${foo}"
backends = ["127.0.0.1:${s1.port}"]
`,
    );
    // $ dill -config /etc/dill/config.toml
    p = spawnSluice(rt, ["-config", join(dir.path, "config.toml")], { env: TEST_ENV });
    await servedBy(foo, ["s1"], "foo");
    assert.equal(await banner(bar), "", "bar's port is not open yet");

    await replace(
      routing,
      `[[services]]
name = "foo"
listener = "any:${foo}"
backends = ["127.0.0.1:${s1.port}", "127.0.0.1:${s2.port}"]

[[services]]
name = "bar"
listener = "any:${bar}"
backends = ["127.0.0.1:${s3.port}"]
`,
    );
    await servedBy(bar, ["s3"], "bar, a port opened by the file");
    await servedBy(foo, ["s1", "s2"], "foo's updated backends");

    // An empty list closes every listener (a `{}` document is tested with the formats below).
    await replace(routing, "services = []\n");
    await refused(foo, "foo closed when the file lists no services");
  });
});

const FORMATS = ["toml", "yaml", "json", "hcl", "env", "properties"] as const;

function formatPath(f: (typeof FORMATS)[number]): string {
  return ["toml", "yaml", "json"].includes(f)
    ? join(ROOT, "configs/dill", `config.${f}`)
    : join(ROOT, "tests/fixtures/seeds/dill", `config.${f}`);
}

describe("dill: every format Viper reads", () => {
  it("TOML, YAML, JSON, HCL, envfile and properties give the same listeners", async () => {
    const all = await Promise.all(FORMATS.map((f) => loadConfig({ path: formatPath(f), env: {} })));
    for (const [i, c] of all.entries()) {
      assert.deepEqual(c.listeners, all[0]!.listeners, FORMATS[i]);
      assert.equal(c.peek.listener, "127.0.0.1:4141", FORMATS[i]);
      assert.equal(c.runtime.workers, 4, FORMATS[i]);
    }
    // TOML and the three Viper-only formats name Consul; YAML the HTTP provider, JSON a file.
    for (const i of [0, 3, 4, 5]) {
      assert.equal(all[i]!.routing.consul?.address, "http://127.0.0.1:8500", FORMATS[i]);
    }
  });

  for (const ext of ["hcl", "env", "properties"] as const) {
    it(`a running sluice reads a .${ext} main config`, { timeout: 60_000 }, async () => {
      const dir = await tempDir("sluice-dill-fmt-");
      const s = startNamedServer(rt, ext);
      const port = await freePort(rt);
      const routing = join(dir.path, "routing.json");
      const text = {
        hcl: `listeners {\n  allowed = { local = "127.0.0.1" }\n}\n` +
          `routing {\n  file {\n    path = "routing.json"\n  }\n}\n`,
        env: `LISTENERS_ALLOWED_LOCAL=127.0.0.1\nROUTING_FILE_PATH=routing.json\n`,
        properties: `listeners.allowed.local = 127.0.0.1\nrouting.file.path = routing.json\n`,
      }[ext];
      await writeFile(join(dir.path, `config.${ext}`), text);
      await writeFile(routing, "{}\n");
      const p = spawnSluice(rt, ["run", "-c", join(dir.path, `config.${ext}`)], {
        cwd: dir.path,
        env: TEST_ENV,
      });
      try {
        const warn = await p.waitForLine(/routing document/, 20_000);
        assert.match(warn, /WARN/);
        assert.match(warn, /dill requires/);
        await replace(
          routing,
          JSON.stringify({
            services: [{ name: ext, listener: `local:${port}`, backends: [`127.0.0.1:${s.port}`] }],
          }),
        );
        await servedBy(port, [ext], `the .${ext} config's file provider`);
        assert.equal(p.lines.filter((l) => /routing document/.test(l)).length, 1, "warned once");
      } finally {
        await stop(p);
        s.close();
        await dir.remove();
      }
    });
  }
});

describe("dill: environment variables and Consul tags", () => {
  let emu: ConsulEmulator;
  let servers: TestServer[] = [];
  const ports: Record<"sluice" | "dill" | "dyntcp", number> = { sluice: 0, dill: 0, dyntcp: 0 };

  before(async () => {
    emu = await startConsulEmulator();
    servers = ["by-sluice", "by-dill", "by-dyntcp"].map((n) => startNamedServer(rt, n));
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort(rt);
    // Registered before sluice starts: its first answer holds all three.
    (["sluice", "dill", "dyntcp"] as const).forEach((tag, i) => {
      emu.register({
        id: `${tag}-1`,
        name: `svc-${tag}`,
        address: "127.0.0.1",
        port: servers[i]!.port,
        tags: [tag, `${tag}.listener=local:${ports[tag]}`],
      });
    });
  });
  after(async () => {
    for (const s of servers) s.close();
    await emu.close();
  });

  it("DILL_CONSUL_ADDRESS (the README's form) routes sluice, dill and dyntcp tags", {
    timeout: 90_000,
  }, async () => {
    const dir = await tempDir("sluice-dill-env-");
    // $ export DILL_CONSUL_ADDRESS="http://127.0.0.1:8500"; DILL_LISTENERS_PORT_MIN=1234 dill
    const p = spawnSluice(rt, [], {
      cwd: dir.path,
      env: { ...TEST_ENV, DILL_CONSUL_ADDRESS: emu.url, DILL_LISTENERS_PORT_MIN: "1234" },
    });
    try {
      await servedBy(ports.sluice, ["by-sluice"], "the sluice tag");
      await servedBy(ports.dill, ["by-dill"], "the dill tag");
      await servedBy(ports.dyntcp, ["by-dyntcp"], "the dyntcp tag");
      const legacy = await p.waitForLine(/services routed by a legacy tag/, 5000);
      assert.match(legacy, /services=2/);
      assert.equal(
        p.lines.filter((l) => /routed by a legacy tag/.test(l)).length,
        1,
        "logged once",
      );
    } finally {
      await stop(p);
      await dir.remove();
    }
  });

  it("DILL_ROUTING_CONSUL_ADDRESS wins over the short form; a configured tag is exact", {
    timeout: 90_000,
  }, async () => {
    const dir = await tempDir("sluice-dill-env-");
    const p = spawnSluice(rt, [], {
      cwd: dir.path,
      env: {
        ...TEST_ENV,
        DILL_CONSUL_ADDRESS: "http://127.0.0.1:1",
        DILL_ROUTING_CONSUL_ADDRESS: emu.url,
        DILL_CONSUL_TAG: "dill",
      },
    });
    try {
      await servedBy(ports.dill, ["by-dill"], "the configured dill tag");
      assert.equal(await banner(ports.sluice), "", "sluice-tagged: not routed");
      assert.equal(await banner(ports.dyntcp), "", "dyntcp-tagged: not routed");
      assert.ok(!p.lines.some((l) => /legacy tag/.test(l)));
    } finally {
      await stop(p);
      await dir.remove();
    }
  });
});
