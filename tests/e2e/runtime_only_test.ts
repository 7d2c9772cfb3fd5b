// Running from source on a machine that has one runtime and nothing else: a fresh clone of the
// repository's HEAD, a PATH that holds only `deno` (or only `bun`), an empty package cache, no
// node_modules. The dependencies must come from the npm registry through the runtime itself
// (deno.json: nodeModulesDir "none" + npm-lazy-caching; Bun: auto-install).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { freePort, ROOT, runtime, spawnSluice, tempDir } from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";

let rt: Runtime;
let dir: { path: string; remove(): Promise<void> };

before(async () => {
  rt = await runtime();
  dir = await tempDir("sluice-runtime-only-");
});
after(() => dir?.remove());

/** `git clone` of ROOT's HEAD into dir/name; returns the clone's path. */
function cloneHead(name: string): string {
  const dest = join(dir.path, name);
  const r = spawnSync("git", ["clone", "--quiet", ROOT, dest], { encoding: "utf8" });
  assert.equal(r.status, 0, `git clone failed: ${r.stderr}`);
  const head = spawnSync("git", ["-C", ROOT, "rev-parse", "HEAD"], { encoding: "utf8" });
  const cloned = spawnSync("git", ["-C", dest, "rev-parse", "HEAD"], { encoding: "utf8" });
  assert.equal(cloned.stdout.trim(), head.stdout.trim(), "the clone is at the repository's HEAD");
  assert.ok(!existsSync(join(dest, "node_modules")), "a fresh clone has no node_modules");
  return dest;
}

async function getText(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: await r.text() };
}

async function runtimeOnly(name: "deno" | "bun", binary: string, argv: string[]): Promise<void> {
  const clone = cloneHead(`clone-${name}`);
  const bin = join(dir.path, `bin-${name}`);
  await mkdir(bin);
  await symlink(realpathSync(binary), join(bin, name));
  const cache = join(dir.path, `cache-${name}`);
  const home = join(dir.path, `home-${name}`);
  await mkdir(cache);
  await mkdir(home);
  // The clone's example routing, on free ports so a running `npm start` does not collide:
  // one listener proxied to sluice's own admin API, as configs/routing.toml does.
  const adminPort = await freePort(rt);
  const proxyPort = await freePort(rt);
  await writeFile(
    join(clone, "configs/routing.toml"),
    `[[services]]\nname = "admin-self"\nlistener = "local:${proxyPort}"\nbackends = ["127.0.0.1:${adminPort}"]\n`,
  );
  const p = spawnSluice(rt, argv, {
    binary: name, // looked up on PATH, which holds nothing else
    cwd: clone,
    env: {
      PATH: bin,
      HOME: home,
      DENO_DIR: cache,
      BUN_INSTALL_CACHE_DIR: cache,
      SLUICE_ADMIN_LISTENER: `127.0.0.1:${adminPort}`,
      SLUICE_PEEK_LISTENER: "",
    },
  });
  try {
    // Generous: the first run downloads the dependencies from the npm registry.
    await waitFor(
      () => getText(`http://127.0.0.1:${adminPort}/healthz`).then((r) => r.status === 200),
      {
        timeoutMs: 240_000,
        intervalMs: 250,
        what: `${name}-only sluice's /healthz:\n${p.lines.slice(-30).join("\n")}`,
      },
    );
    await waitFor(
      () =>
        getText(`http://127.0.0.1:${proxyPort}/healthz`).then((r) => r.status === 200, () => false),
      { timeoutMs: 20_000, intervalMs: 250, what: "the routed listener to proxy /healthz" },
    );
    p.signal("SIGTERM");
    assert.equal(await p.exited(40_000), 0, p.lines.slice(-20).join("\n"));
  } finally {
    p.kill();
  }
}

describe("from a fresh clone with one runtime on PATH", () => {
  it(
    "deno run -A main.ts run -c configs/config.toml starts sluice (deno only, empty DENO_DIR)",
    { timeout: 300_000 },
    () =>
      runtimeOnly("deno", join(ROOT, "node_modules/deno/deno"), [
        "run",
        "-A",
        "main.ts",
        "run",
        "-c",
        "configs/config.toml",
      ]),
  );

  it(
    "bun main.ts run -c configs/config.toml starts sluice (bun only, empty install cache)",
    { timeout: 300_000 },
    () =>
      runtimeOnly("bun", join(ROOT, "node_modules/bun/bin/bun.exe"), [
        "main.ts",
        "run",
        "-c",
        "configs/config.toml",
      ]),
  );
});
