// `sluice health`: the probe a container HEALTHCHECK or a watchdog runs instead of curl.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { healthzUrl } from "../../src/cli/health.ts";
import {
  freePort,
  runtime,
  type SluiceProcess,
  spawnSluice,
  tempDir,
} from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";

let rt: Runtime;
let dir: { path: string; remove(): Promise<void> };
let adminPort: number;
let running: SluiceProcess;

before(async () => {
  rt = await runtime();
  dir = await tempDir("sluice-health-");
  adminPort = await freePort(rt);
  running = spawnSluice(rt, ["run"], {
    cwd: dir.path,
    env: { SLUICE_ADMIN_LISTENER: `127.0.0.1:${adminPort}` },
  });
  await waitFor(
    () =>
      fetch(`http://127.0.0.1:${adminPort}/healthz`, { signal: AbortSignal.timeout(2000) })
        .then((r) => r.body?.cancel().then(() => r.ok) ?? r.ok, () => false),
    {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: `sluice's admin API:\n${running.lines.join("\n")}`,
    },
  );
});
after(async () => {
  running?.signal("SIGTERM");
  await running?.exited(10_000).catch(() => running.kill());
  await dir?.remove();
});

async function health(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  const p = spawnSluice(rt, ["health", ...args], { cwd: dir.path, env });
  const code = await p.exited(30_000);
  return { code, out: p.lines.join("\n") };
}

describe("healthzUrl", () => {
  it("turns an admin listener or URL into the /healthz URL", () => {
    assert.equal(healthzUrl("127.0.0.1:9090"), "http://127.0.0.1:9090/healthz");
    assert.equal(healthzUrl("0.0.0.0:9090"), "http://127.0.0.1:9090/healthz");
    assert.equal(healthzUrl("[::]:9090"), "http://[::1]:9090/healthz");
    assert.equal(healthzUrl("[::1]:9"), "http://[::1]:9/healthz");
    assert.equal(healthzUrl("http://10.0.0.5:9090"), "http://10.0.0.5:9090/healthz");
    assert.equal(healthzUrl("https://h.example/sluice/"), "https://h.example/sluice/healthz");
    assert.equal(healthzUrl("http://h:1/healthz"), "http://h:1/healthz");
    assert.equal(healthzUrl("ftp://h:1"), undefined);
    assert.equal(healthzUrl("nonsense"), undefined);
  });
});

describe("sluice health", () => {
  it("exits 0 with one line when the admin API is healthy (--admin, env, -c)", async () => {
    const byFlag = await health(["--admin", `127.0.0.1:${adminPort}`]);
    assert.equal(byFlag.code, 0, byFlag.out);
    assert.match(byFlag.out, /^healthy: http:\/\/127\.0\.0\.1:\d+\/healthz: 200/);
    assert.equal(byFlag.out.split("\n").length, 1, byFlag.out);

    const byUrl = await health(["--admin", `http://127.0.0.1:${adminPort}`]);
    assert.equal(byUrl.code, 0, byUrl.out);

    const byEnv = await health([], { SLUICE_ADMIN_LISTENER: `127.0.0.1:${adminPort}` });
    assert.equal(byEnv.code, 0, byEnv.out);

    await writeFile(
      join(dir.path, "config.toml"),
      `[admin]\nlistener = "0.0.0.0:${adminPort}"\ntoken = "secret"\n`,
    );
    const byConfig = await health(["-c", "config.toml"]);
    assert.equal(byConfig.code, 0, byConfig.out);
    assert.match(byConfig.out, new RegExp(`127\\.0\\.0\\.1:${adminPort}/healthz: 200`));
  });

  it("exits 1 when nothing listens on the admin address", async () => {
    const port = await freePort(rt);
    const r = await health(["--admin", `127.0.0.1:${port}`]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`unhealthy: http://127\\.0\\.0\\.1:${port}/healthz: `));
  });

  it("exits 1 on a status other than 200", async () => {
    const server: Server = createServer((_req, res) => {
      res.writeHead(503, { "content-type": "text/plain" });
      res.end("draining\n");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await health(["--admin", `127.0.0.1:${port}`]);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /unhealthy: .*HTTP 503 draining/);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("exits 1 when the admin API is off and no --admin is given", async () => {
    const r = await health([], { SLUICE_ADMIN_LISTENER: "" });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /admin API is off/);
  });

  it("a malformed --admin is a usage error (2); --help prints its usage", async () => {
    const bad = await health(["--admin", "nonsense"]);
    assert.equal(bad.code, 2, bad.out);
    assert.match(bad.out, /nonsense/);
    const help = await health(["--help"]);
    assert.equal(help.code, 0, help.out);
    assert.match(help.out, /Usage: sluice health/);
  });
});
