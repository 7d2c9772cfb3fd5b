// loadConfig(): formats, defaults, precedence (flag > SLUICE_ > DILL_ > file > default) and
// unknown keys. Validation and the files a config names are in load_validation_test.ts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { DEFAULT_CONFIG } from "../../src/config/resolve.ts";
import { dir, file, problems, useScratchDir } from "./_load_support.ts";
import { healthChecks } from "../../src/health/monitor.ts";

useScratchDir();

describe("loadConfig() defaults", () => {
  it("gives SPEC section 2 defaults with no file, no environment, no flags", async () => {
    const c = await loadConfig({ env: {} });
    assert.deepEqual(c, DEFAULT_CONFIG);
    assert.deepEqual(c.listeners, {
      allowed: { local: "127.0.0.1", any: "0.0.0.0" },
      portMin: 1024,
      portMax: 49151,
      drainTimeoutMs: 30_000,
      bindRetryMs: 5_000,
      halfCloseTimeoutMs: 300_000,
    });
    assert.deepEqual(c.admin, {
      listener: "127.0.0.1:9090",
      token: "",
      address: { host: "127.0.0.1", port: 9090 },
    });
    assert.deepEqual(c.peek, { listener: "" });
    assert.deepEqual(c.log, { level: "info", format: "text", access: true });
    assert.deepEqual(c.runtime, {
      workers: 1,
      pidFile: "",
      stateFile: "",
      stateIntervalMs: 10_000,
    });
    assert.deepEqual(c.dns, { refreshWithoutTtlMs: 30_000 });
    assert.deepEqual(c.defaults, {
      balance: "round_robin",
      hashKey: { kind: "client_ip" },
      connectTimeoutMs: 5000,
      connectAttempts: 0,
      connectBudgetMs: 15_000,
      idleTimeoutMs: 3_600_000,
      maxConnections: 0,
      proxyProtocol: "",
      health: undefined,
    });
    assert.deepEqual(c.routing, {});
  });

  it("parses each listen address once, at load, port 0 (any free port) included", async () => {
    const c = await loadConfig({
      env: {},
      overrides: { "peek.listener": "127.0.0.1:0", "admin.listener": "[::1]:0" },
    });
    assert.deepEqual(c.peek, { listener: "127.0.0.1:0", address: { host: "127.0.0.1", port: 0 } });
    assert.deepEqual(c.admin.address, { host: "::1", port: 0 });
  });

  it("reads an empty file as all defaults", async () => {
    const path = await file("");
    assert.deepEqual(await loadConfig({ path, env: {} }), { ...DEFAULT_CONFIG, source: path });
  });

  it("fills provider defaults", async () => {
    const path = await file(`
[routing.http]
endpoint = "https://example.test/routing.json"
[routing.consul]
address = "127.0.0.1:8500"
[routing.nomad]
address = "http://127.0.0.1:4646/"
`);
    const c = await loadConfig({ path, env: {} });
    assert.deepEqual(c.routing.http, {
      endpoint: "https://example.test/routing.json",
      pollIntervalMs: 5000,
      pollTimeoutMs: 5000,
      headers: {},
      maxBytes: 4 * 1024 * 1024,
      tls: { insecure: false },
    });
    assert.deepEqual(c.routing.consul, {
      address: "http://127.0.0.1:8500",
      token: "",
      datacenter: "",
      namespace: "",
      waitMs: 300_000,
      consistencyMode: "stale",
      tag: "sluice",
      legacyTags: ["dill", "dyntcp"],
      tls: { insecure: false },
    });
    assert.deepEqual(c.routing.nomad, {
      address: "http://127.0.0.1:4646",
      token: "",
      namespace: "default",
      waitMs: 300_000,
      stale: false,
      tag: "sluice",
      legacyTags: ["dill", "dyntcp"],
      tls: { insecure: false },
    });
    assert.equal(c.routing.file, undefined);
  });
});

describe("loadConfig() formats", () => {
  it("reads the same settings from TOML, YAML and JSON", async () => {
    const toml = await file(
      '[listeners]\nport_min = 2000\n[listeners.allowed]\nv6 = "::"\n[log]\nlevel = "debug"\n',
    );
    const yaml = await file(
      'listeners:\n  port_min: 2000\n  allowed: {v6: "::"}\nlog:\n  level: debug\n',
      "yaml",
    );
    const yml = await file(
      'listeners:\n  port_min: 2000\n  allowed: {v6: "::"}\nlog:\n  level: debug\n',
      "yml",
    );
    const json = await file(
      '{"listeners": {"port_min": 2000, "allowed": {"v6": "::"}}, "log": {"level": "debug"}}',
      "json",
    );
    const all = await Promise.all(
      [toml, yaml, yml, json].map((path) => loadConfig({ path, env: {} })),
    );
    for (const c of all) {
      assert.equal(c.listeners.portMin, 2000);
      assert.deepEqual(c.listeners.allowed, { v6: "::" });
      assert.equal(c.log.level, "debug");
      assert.deepEqual({ ...c, source: "" }, { ...all[0], source: "" });
    }
  });

  for (
    const [ext, text, where] of [
      ["toml", "[listeners]\nport_min = \n", /:2:\d+: /],
      ["yaml", "listeners:\n  port_min: 1\n  port_min: 2\n", /:3:3: /],
      ["json", '{\n  "listeners": {"port_min": 1,}\n}', /:2:31: /],
      // The yaml package throws a bare ReferenceError for this one (was exit 1, "fatal").
      ["yaml", "log: *a\n", /:1:6: alias \*a has no anchor/],
      ["yaml", "log: &a\n  level: *a\n", /:2:10: alias \*a is inside/],
      // Deep nesting: one located error on both runtimes (was a RangeError / runtime-dependent).
      ["json", '{"log": ' + "[".repeat(100_000), /:1:264: lists and tables nested deeper than 256/],
      ["yaml", "log: " + "[".repeat(1_000), /:1:261: lists and tables nested deeper than 256/],
    ] as const
  ) {
    it(`reports a ${ext} syntax error with the file, line and column`, async () => {
      const path = await file(text, ext);
      const p = await problems({ path, env: {} });
      assert.match(p.message, new RegExp(`${path.replace(/[.\\/]/g, "\\$&")}${where.source}`));
    });
  }

  it("refuses an unknown extension and a missing file, naming the file", async () => {
    const ini = await file("a=1", "ini");
    assert.match(
      (await problems({ path: ini, env: {} })).message,
      /c\d+\.ini.*unknown file extension/s,
    );
    const missing = join(dir, "nope.toml");
    assert.match(
      (await problems({ path: missing, env: {} })).message,
      /nope\.toml: .*cannot read the file/s,
    );
  });

  it("refuses a document that is not a table", async () => {
    const path = await file("[1, 2]", "json");
    assert.match(
      (await problems({ path, env: {} })).lines[0] ?? "",
      /expected a table of settings/,
    );
  });
});

describe("loadConfig() precedence", () => {
  it("flag > SLUICE_ > DILL_ > file > default", async () => {
    const path = await file(
      '[log]\nlevel = "warn"\nformat = "json"\n[listeners]\nport_min = 1500\nport_max = 1600\n',
    );
    const env = {
      SLUICE_LOG_LEVEL: "error",
      DILL_LOG_LEVEL: "debug",
      DILL_LISTENERS_PORT_MIN: "1501",
      SLUICE_LISTENERS_DRAIN_TIMEOUT: "1m",
    };
    const c = await loadConfig({ path, env, overrides: { "log.level": "info" } });
    assert.equal(c.log.level, "info", "flag beats every variable");
    assert.equal(c.log.format, "json", "file beats default");
    assert.equal(c.listeners.portMin, 1501, "DILL_ beats file");
    assert.equal(c.listeners.portMax, 1600, "file");
    assert.equal(c.listeners.drainTimeoutMs, 60_000, "SLUICE_ beats default");
    const hc = await loadConfig({ env: { SLUICE_LISTENERS_HALF_CLOSE_TIMEOUT: "2s" } });
    assert.equal(hc.listeners.halfCloseTimeoutMs, 2000, "listeners.half_close_timeout");
    const noFlag = await loadConfig({ path, env });
    assert.equal(noFlag.log.level, "error", "SLUICE_ beats DILL_");
  });

  it("coerces environment strings by the type of the key", async () => {
    const c = await loadConfig({
      env: {
        SLUICE_LOG_ACCESS: "false",
        SLUICE_LISTENERS_PORT_MAX: "40000",
        SLUICE_LISTENERS_BIND_RETRY: "2",
        SLUICE_LISTENERS_ALLOWED: "a=10.1.2.3, b=::",
        SLUICE_ROUTING_CONSUL_ADDRESS: "http://10.0.0.1:8500",
        SLUICE_ROUTING_CONSUL_TAG: "dill",
        SLUICE_ROUTING_HTTP_ENDPOINT: "http://127.0.0.1:1/r.json",
        SLUICE_ROUTING_HTTP_HEADERS: '{"Authorization": "Bearer x"}',
        SLUICE_ROUTING_HTTP_MAX_BYTES: "512KiB",
        SLUICE_DEFAULTS_CONNECT_ATTEMPTS: "5",
        SLUICE_DEFAULTS_HEALTH_TYPE: "tcp",
        SLUICE_ADMIN_LISTENER: "",
      },
    });
    assert.equal(c.log.access, false);
    assert.equal(c.listeners.portMax, 40000);
    assert.equal(c.listeners.bindRetryMs, 2000, "a bare number is seconds");
    assert.deepEqual(c.listeners.allowed, { a: "10.1.2.3", b: "::" });
    assert.equal(c.routing.consul?.address, "http://10.0.0.1:8500");
    assert.equal(c.routing.consul?.tag, "dill");
    assert.deepEqual(c.routing.http?.headers, { Authorization: "Bearer x" });
    assert.equal(c.routing.http?.maxBytes, 512 * 1024);
    assert.equal(c.defaults.connectAttempts, 5);
    assert.equal(healthChecks(c.defaults.health)[0]?.type, "tcp");
    assert.equal(c.admin.listener, "", "an empty string variable turns the admin API off");
  });

  it("replaces a whole table (listeners.allowed) from the environment rather than merging it", async () => {
    const path = await file('[listeners.allowed]\nlocal = "127.0.0.1"\nany = "0.0.0.0"\n');
    const c = await loadConfig({
      path,
      env: { SLUICE_LISTENERS_ALLOWED: '{"only": "127.0.0.2"}' },
    });
    assert.deepEqual(c.listeners.allowed, { only: "127.0.0.2" });
  });

  it("maps runtime.gomaxprocs (dill) to runtime.workers, workers winning within one source", async () => {
    assert.equal(
      (await loadConfig({ path: await file("[runtime]\ngomaxprocs = 3\n"), env: {} })).runtime
        .workers,
      3,
    );
    assert.equal(
      (await loadConfig({ path: await file("[runtime]\ngomaxprocs = 3\nworkers = 2\n"), env: {} }))
        .runtime.workers,
      2,
    );
    const path = await file("[runtime]\nworkers = 2\n");
    assert.equal(
      (await loadConfig({ path, env: { DILL_RUNTIME_GOMAXPROCS: "6" } })).runtime.workers,
      6,
    );
    assert.equal(
      (await loadConfig({ path, env: {}, overrides: { "runtime.gomaxprocs": 8 } })).runtime.workers,
      8,
    );
  });

  it("takes typed override values as they are", async () => {
    const c = await loadConfig({
      env: {},
      overrides: {
        "listeners.port_min": 3000,
        "log.access": false,
        "peek.listener": "127.0.0.1:0",
      },
    });
    assert.equal(c.listeners.portMin, 3000);
    assert.equal(c.log.access, false);
    assert.equal(c.peek.listener, "127.0.0.1:0");
  });
});

describe("loadConfig() unknown keys", () => {
  it("refuses unknown keys at any depth with a did-you-mean hint and the file", async () => {
    const path = await file(
      '[listeners]\nport_mn = 1\n[routing.file]\npath = "r.toml"\nwach = true\n[logg]\nlevel = "info"\n',
    );
    const p = await problems({ path, env: {} });
    assert.deepEqual([...p.paths].sort(), ["listeners.port_mn", "logg", "routing.file.wach"]);
    assert.match(p.message, /listeners\.port_mn: unknown key \(did you mean "port_min"\?\)/);
    assert.match(p.message, /routing\.file\.wach: unknown key \(did you mean "watch"\?\)/);
    assert.match(p.message, /logg: unknown key \(did you mean "log"\?\)/);
    for (const line of p.lines) assert.ok(line.startsWith(`${path}: `), line);
  });

  it("reads dns.refresh_without_ttl and runtime.pid_file (relative to the file)", async () => {
    const path = await file('[dns]\nrefresh_without_ttl = "10s"\n[runtime]\npid_file = "s.pid"\n');
    const c = await loadConfig({ path, env: {} });
    assert.equal(c.dns.refreshWithoutTtlMs, 10_000);
    assert.equal(c.runtime.pidFile, join(dir, "s.pid"));
  });

  it("points old dill top-level keys to their place", async () => {
    const path = await file('[nomad]\naddress = "http://127.0.0.1:4646"\n');
    assert.match(
      (await problems({ path, env: {} })).message,
      /nomad: unknown key \(did you mean "routing\.nomad"\?\)/,
    );
  });

  it("reads dyntcp's top-level [consul] as routing.consul, with a notice", async () => {
    const path = await file('[consul]\naddress = "http://127.0.0.1:8500"\n');
    const c = await loadConfig({ path, env: {} });
    assert.equal(c.routing.consul?.address, "http://127.0.0.1:8500");
    assert.equal(c.notices?.length, 1);
    assert.match(c.notices?.[0] ?? "", /"consul" \(dyntcp's key\) is read as "routing\.consul"/);
  });

  it("refuses [consul] beside [routing.consul] with the usual hint", async () => {
    const path = await file(
      '[consul]\naddress = "http://a:8500"\n[routing.consul]\naddress = "http://b:8500"\n',
    );
    assert.match(
      (await problems({ path, env: {} })).message,
      /consul: unknown key \(did you mean "routing\.consul"\?\)/,
    );
  });

  it("refuses an unknown flag key with a hint", async () => {
    const p = await problems({ env: {}, overrides: { "log.levle": "debug" } });
    assert.match(
      p.message,
      /flag log\.levle: log\.levle: unknown key \(did you mean "log\.level"\?\)/,
    );
  });

  it("ignores unrelated SLUICE_ variables (the test runner has its own)", async () => {
    await loadConfig({ env: { SLUICE_TEST_RUNTIMES: "deno", SLUICE_NO_INSTALL: "1" } });
  });
});
