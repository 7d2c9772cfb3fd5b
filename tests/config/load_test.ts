// loadConfig(): formats, defaults, precedence (flag > SLUICE_ > DILL_ > file > default),
// validation rules, and errors that name the file, the key path and what was expected.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, DEFAULT_CONFIG, loadConfig } from "../../src/config/load.ts";
import { healthChecks } from "../../src/health/monitor.ts";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-config-test-"));
});
after(() => rm(dir, { recursive: true, force: true }));

let n = 0;
async function file(text: string, ext = "toml"): Promise<string> {
  const path = join(dir, `c${n++}.${ext}`);
  await writeFile(path, text);
  return path;
}

async function problems(
  o: Parameters<typeof loadConfig>[0],
): Promise<{ message: string; paths: string[]; lines: string[] }> {
  try {
    await loadConfig(o);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.code, "CONFIG");
    return {
      message: e.message,
      paths: e.problems.map((p) => p.path),
      lines: e.problems.map((p) => p.message),
    };
  }
  assert.fail("expected a ConfigError");
}

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

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
    assert.deepEqual(c.runtime, { workers: 1, stateFile: "", stateIntervalMs: 10_000 });
    assert.deepEqual(c.defaults, {
      balance: "round_robin",
      hashKey: { kind: "client_ip" },
      connectTimeoutMs: 5000,
      connectAttempts: 3,
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
      tls: { insecure: false },
    });
    assert.deepEqual(c.routing.nomad, {
      address: "http://127.0.0.1:4646",
      token: "",
      namespace: "default",
      waitMs: 300_000,
      stale: false,
      tag: "sluice",
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

  it("points old dill top-level keys to their place", async () => {
    const path = await file('[consul]\naddress = "http://127.0.0.1:8500"\n');
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

describe("loadConfig() validation", () => {
  const cases: [string, string, string, RegExp][] = [
    [
      "a bad log level",
      '[log]\nlevel = "loud"',
      "log.level",
      /expected one of "debug", "info", "warn", "error", got "loud"/,
    ],
    ["a bad log format", '[log]\nformat = "xml"', "log.format", /expected one of "text", "json"/],
    [
      "port_min above port_max",
      "[listeners]\nport_min = 5000\nport_max = 4000",
      "listeners.port_min",
      /port_min \(5000\) <= port_max \(4000\)/,
    ],
    ["a port out of range", "[listeners]\nport_max = 70000", "listeners.port_max", /at most 65535/],
    [
      "a port that is no number",
      '[listeners]\nport_min = "low"',
      "listeners.port_min",
      /expected a number, got "low"/,
    ],
    [
      "a label that maps to no IP",
      '[listeners.allowed]\npublic = "eth0"',
      "listeners.allowed.public",
      /IPv4 or IPv6 address/,
    ],
    [
      "a label with a colon",
      '[listeners.allowed]\n"a:b" = "127.0.0.1"',
      "listeners.allowed.a:b",
      /may not be empty or hold ":"/,
    ],
    [
      "a bad duration",
      '[listeners]\ndrain_timeout = "30 secs"',
      "listeners.drain_timeout",
      /duration/,
    ],
    ["a zero bind_retry", '[listeners]\nbind_retry = "0s"', "listeners.bind_retry", /above 0/],
    ["a bad peek listener", '[peek]\nlistener = "4444"', "peek.listener", /HOST:PORT/],
    ["a bad admin listener", '[admin]\nlistener = "localhost"', "admin.listener", /HOST:PORT/],
    [
      "a public admin listener without token",
      '[admin]\nlistener = "0.0.0.0:9090"',
      "admin.listener",
      /not a loopback address, so admin\.token must be set/,
    ],
    [
      "a bad default balance",
      '[defaults]\nbalance = "best"',
      "defaults.balance",
      /one of "round_robin"/,
    ],
    [
      "a bad default hash_key",
      '[defaults]\nhash_key = "first_bytes:4-2"',
      "defaults.hash_key",
      /START < END/,
    ],
    [
      "a zero default connect_timeout",
      "[defaults]\nconnect_timeout = 0",
      "defaults.connect_timeout",
      /above 0/,
    ],
    ["a bad default health", '[defaults]\nhealth = "always"', "defaults.health", /expected/],
    ["workers of 0", "[runtime]\nworkers = 0", "runtime.workers", /at least 1/],
    [
      "a routing file of unknown format",
      '[routing.file]\npath = "routes.txt"',
      "routing.file.path",
      /\.toml, \.yaml, \.yml or \.json/,
    ],
    [
      "a file provider without path",
      "[routing.file]\nwatch = true",
      "routing.file.path",
      /missing/,
    ],
    [
      "a consul section without address",
      '[routing.consul]\ntoken = "t"',
      "routing.consul.address",
      /missing/,
    ],
    [
      "a bad consistency mode",
      '[routing.consul]\naddress = "x:1"\nconsistency_mode = "eventual"',
      "routing.consul.consistency_mode",
      /"stale", "consistent", "leader"/,
    ],
    [
      "an http endpoint that is no URL",
      '[routing.http]\nendpoint = "routing.json"',
      "routing.http.endpoint",
      /http:\/\/ or https:\/\/ URL/,
    ],
    [
      "a bad max_bytes",
      '[routing.http]\nendpoint = "http://h/r"\nmax_bytes = "4 MeB"',
      "routing.http.max_bytes",
      /size/,
    ],
    [
      "a consul address with a bad scheme",
      '[routing.consul]\naddress = "ftp://h:1"',
      "routing.consul.address",
      /http:\/\/ or https:\/\//,
    ],
  ];
  for (const [what, text, path, re] of cases) {
    it(`refuses ${what}, naming the file and ${path}`, async () => {
      const f = await file(text);
      const p = await problems({ path: f, env: {} });
      const i = p.paths.indexOf(path);
      assert.ok(i >= 0, `no problem at ${path}: ${p.message}`);
      assert.match(p.lines[i] ?? "", re);
      assert.ok(p.lines[i]?.startsWith(`${f}: ${path}: `), String(p.lines[i]));
    });
  }

  it("accepts a public admin listener with a token, and never shows the token", async () => {
    const c = await loadConfig({
      path: await file('[admin]\nlistener = "0.0.0.0:9090"\ntoken = "s3cret"'),
      env: {},
    });
    assert.equal(c.admin.token, "s3cret");
    const p = await problems({
      path: await file('[admin]\nlistener = "0.0.0.0:9090"\ntoken = 5'),
      env: {},
    });
    assert.doesNotMatch(p.message, /s3cret/);
  });

  it("accepts loopback admin listeners without a token", async () => {
    for (const listener of ["127.0.0.1:9090", "[::1]:9090", "localhost:9090", "127.0.0.2:0"]) {
      const c = await loadConfig({ env: {}, overrides: { "admin.listener": listener } });
      assert.equal(c.admin.listener, listener);
    }
  });

  it("reports every problem of every source together", async () => {
    const path = await file(
      '[log]\nlevel = "loud"\n[listeners]\nport_mn = 1\n[listeners.allowed]\nx = "nope"\n',
    );
    const p = await problems({
      path,
      env: { SLUICE_LISTENERS_PORT_MAX: "many" },
      overrides: { "admin.listener": "0.0.0.0:1" },
    });
    assert.deepEqual([...p.paths].sort(), [
      "admin.listener",
      "listeners.allowed.x",
      "listeners.port_max",
      "listeners.port_mn",
      "log.level",
    ]);
    assert.match(p.message, /^Invalid configuration .*: 5 problems\n/);
    const byPath = Object.fromEntries(p.paths.map((k, i) => [k, p.lines[i]]));
    assert.match(
      byPath["listeners.port_max"] ?? "",
      /^environment variable SLUICE_LISTENERS_PORT_MAX: /,
    );
    assert.match(byPath["admin.listener"] ?? "", /^flag admin\.listener: /);
    assert.ok(byPath["log.level"]?.startsWith(`${path}: `));
  });
});

describe("loadConfig() files named in the config", () => {
  it("resolves routing.file.path and TLS files against the config file's directory", async () => {
    const sub = join(dir, "sub");
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, "ca.pem"), PEM);
    const path = join(sub, "c.toml");
    await writeFile(
      path,
      '[routing.file]\npath = "routing.toml"\n[routing.consul]\naddress = "https://h:8501"\n[routing.consul.tls]\nca = "ca.pem"\ninsecure = true\n',
    );
    const c = await loadConfig({ path, env: {} });
    assert.deepEqual(c.routing.file, { path: join(sub, "routing.toml"), watch: true });
    assert.deepEqual(c.routing.consul?.tls, {
      caPath: join(sub, "ca.pem"),
      ca: PEM,
      insecure: true,
    });
  });

  it("reads client cert and key, and keeps absolute paths", async () => {
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    await writeFile(cert, PEM);
    await writeFile(key, PEM.replaceAll("CERTIFICATE", "PRIVATE KEY"));
    const c = await loadConfig({
      env: {
        SLUICE_ROUTING_NOMAD_ADDRESS: "https://n:4646",
        SLUICE_ROUTING_NOMAD_TLS_CERT: cert,
        SLUICE_ROUTING_NOMAD_TLS_KEY: key,
      },
    });
    assert.equal(c.routing.nomad?.tls.certPath, cert);
    assert.match(c.routing.nomad?.tls.key ?? "", /PRIVATE KEY/);
  });

  it("reports unreadable, non-PEM and half-given TLS files by key path", async () => {
    const notPem = join(dir, "not.pem");
    await writeFile(notPem, "hello");
    const path = await file(
      `[routing.http]\nendpoint = "https://h/r"\n[routing.http.tls]\nca = "missing.pem"\ncert = ${
        JSON.stringify(notPem)
      }\n`,
    );
    const p = await problems({ path, env: {} });
    assert.deepEqual([...p.paths].sort(), [
      "routing.http.tls.ca",
      "routing.http.tls.cert",
      "routing.http.tls.key",
    ]);
    const byPath = Object.fromEntries(p.paths.map((k, i) => [k, p.lines[i]]));
    assert.match(byPath["routing.http.tls.ca"] ?? "", /cannot read ".*missing\.pem"/);
    assert.match(byPath["routing.http.tls.cert"] ?? "", /not a PEM file/);
    assert.match(byPath["routing.http.tls.key"] ?? "", /needs both tls\.cert and tls\.key/);
  });
});
