// tcpproxy's README, walked against a running sluice: an app whose targets are mostly dead
// still serves every client (all targets are tried, within the connect budget), sluice finds
// its config with no -c (tcpproxy reads ./config.yaml) and prints one line per app at start.
// Also tcpffee's SLUICE_CONFIG-style path variable and runtime.pid_file.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import {
  fetchBanner,
  freePort,
  runtime,
  spawnSluice,
  startNamedServer,
  startServer,
  tempDir,
  type TestServer,
} from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";
import { type SluiceFixture, startSluiceFixture } from "../e2e/_sluice_fixture.ts";

let rt: Runtime;
before(async () => {
  rt = await runtime();
});

describe("tcpproxy: all targets are tried", () => {
  let fx: SluiceFixture | undefined;
  let live: TestServer | undefined;
  let port = 0;
  const dead: number[] = [];

  before(async () => {
    live = startNamedServer(rt, "live");
    // Four targets that refuse (free ports nobody listens on), then the live one, as
    // tcpproxy's "six-thousand" app mixes a bad target with good ones.
    for (let i = 0; i < 4; i++) dead.push(await freePort(rt));
    port = await freePort(rt);
    fx = await startSluiceFixture({
      rt,
      routing: `[[services]]
name = "six-thousand"
listener = "local:${port}"
backends = [${[...dead, live.port].map((p) => `"127.0.0.1:${p}"`).join(", ")}]
connect_timeout = "1s"
`,
    });
    await fx.waitListening([`127.0.0.1:${port}`]);
  });

  after(async () => {
    await fx?.stop();
    live?.close();
  });

  it("serves 8 of 8 clients with 4 dead targets and 1 live (connect_attempts unset)", {
    timeout: 60_000,
  }, async () => {
    const got: string[] = [];
    for (let i = 0; i < 8; i++) got.push(await fetchBanner(rt, port));
    assert.deepEqual(got, Array(8).fill("live"));
    const l = (await fx!.listeners()).find((x) => x.address === `127.0.0.1:${port}`)!;
    const failures = l.backends.filter((b) => b.address !== `127.0.0.1:${live!.port}`)
      .reduce((n, b) => n + b.connect_failures, 0);
    assert.ok(failures >= 1, "the dead targets were tried");
  });

  it("prints one line per service at start: name, listeners, backends", async () => {
    const line = await fx!.sluice.waitForLine(/ service provider=file name=six-thousand /, 5000);
    assert.match(line, new RegExp(`listeners=local:${port} `));
    assert.match(
      line,
      new RegExp(`backends=127\\.0\\.0\\.1:${dead[0]},.*127\\.0\\.0\\.1:${live!.port}$`),
    );
  });
});

describe("tcpproxy: the connect budget bounds the attempts", () => {
  it("stops trying after connect_budget and says so", { timeout: 60_000 }, async () => {
    // A SOCKS5 proxy that accepts and never answers: every attempt through it hangs until its
    // dial timeout, which the budget cuts to what is left of 300ms.
    const silent = startServer(rt, async (c) => {
      while ((await c.read().catch(() => null)) !== null) { /* never answer */ }
      c.close();
    });
    const port = await freePort(rt);
    const fx = await startSluiceFixture({
      rt,
      routing: `[[services]]
name = "slow"
listener = "local:${port}"
backends = ["127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"]
proxy = "socks5://127.0.0.1:${silent.port}"
connect_timeout = "5s"
connect_budget = "300ms"
`,
    });
    try {
      await fx.waitListening([`127.0.0.1:${port}`]);
      assert.equal(await fetchBanner(rt, port), "");
      const line = await fx.sluice.waitForLine(/connect_budget of 300ms spent/, 10_000);
      assert.match(line, /after 1 of 3 attempts/);
    } finally {
      await fx.stop();
      silent.close();
    }
  });
});

describe("tcpproxy: the default config path", () => {
  it("reads ./config.yaml with no -c, and says so", { timeout: 60_000 }, async () => {
    const dir = await tempDir("sluice-tcpproxy-");
    const backend = startNamedServer(rt, "five");
    const port = await freePort(rt);
    await writeFile(
      join(dir.path, "config.yaml"),
      `listeners:
  port_max: 65535
admin:
  listener: ""
routing:
  file:
    path: routing.yaml
`,
    );
    await writeFile(
      join(dir.path, "routing.yaml"),
      `services:
  - name: five-thousand
    listener: local:${port}
    backends: ["127.0.0.1:${backend.port}"]
`,
    );
    const p = spawnSluice(rt, ["run"], { cwd: dir.path });
    try {
      const line = await p.waitForLine(/ config path=/, 20_000);
      assert.match(line, /path=\.\/config\.yaml how="found \(no -c given\)"/);
      await p.waitForLine(/ service provider=file name=five-thousand /, 20_000);
      await waitFor(async () => (await fetchBanner(rt, port).catch(() => "")) === "five", {
        timeoutMs: 20_000,
        what: "five-thousand to answer",
      });
    } finally {
      p.signal("SIGTERM");
      await p.exited(15_000).catch(() => p.kill());
      backend.close();
      await dir.remove();
    }
  });

  it("says when it found none", { timeout: 60_000 }, async () => {
    const dir = await tempDir("sluice-tcpproxy-");
    const p = spawnSluice(rt, ["check"], { cwd: dir.path });
    try {
      assert.equal(await p.exited(30_000), 0);
      assert.ok(
        p.lines.some((l) =>
          /^config: \(defaults\) \(none found .*\/etc\/sluice\/config\.toml/.test(l)
        ),
        p.lines.join("\n"),
      );
    } finally {
      p.kill();
      await dir.remove();
    }
  });
});

describe("SLUICE_CONFIG and runtime.pid_file (tcpffee's variables)", () => {
  it("reads the config SLUICE_CONFIG names, writes the pid file, removes it at exit", {
    timeout: 60_000,
  }, async () => {
    const dir = await tempDir("sluice-pid-");
    const configPath = join(dir.path, "elsewhere.toml");
    const pidPath = join(dir.path, "sluice.pid");
    await writeFile(configPath, `[admin]\nlistener = ""\n[runtime]\npid_file = "sluice.pid"\n`);
    const p = spawnSluice(rt, ["run"], { cwd: dir.path, env: { SLUICE_CONFIG: configPath } });
    try {
      const line = await p.waitForLine(/ config path=/, 20_000);
      assert.match(line, /how="from SLUICE_CONFIG"/);
      const pid = await waitFor(
        () => readFile(pidPath, "utf8").then((t) => t.trim(), () => ""),
        { timeoutMs: 20_000, what: "the pid file" },
      );
      assert.equal(pid, String(p.pid));
      p.signal("SIGTERM");
      assert.equal(await p.exited(15_000), 0);
      await assert.rejects(stat(pidPath), "the pid file is removed at exit");
    } finally {
      p.kill();
      await dir.remove();
    }
  });
});
