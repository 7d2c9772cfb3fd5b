// loadConfig() validation rules, and the files a config names (routing file, TLS files):
// errors that name the file, the key path and what was expected.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { dir, file, PEM, problems, useScratchDir } from "./_load_support.ts";

useScratchDir();

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
