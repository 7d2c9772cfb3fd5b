// The single-file executable: built by `deno task compile` (bun build --compile into
// dist/sluice), then run end to end without any runtime on the side.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { VERSION } from "../../src/version.ts";
import {
  canConnect,
  fetchBanner,
  freePort,
  ROOT,
  runtime,
  spawnSluice,
  startNamedServer,
  tempDir,
} from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";

let rt: Runtime;
let dir: { path: string; remove(): Promise<void> };
let binary: string;

before(async () => {
  rt = await runtime();
  dir = await tempDir();
  // Exactly what a user runs (deno task runs bun build --compile into dist/sluice).
  const r = spawnSync(join(ROOT, "node_modules/deno/deno"), ["task", "compile"], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 180_000,
  });
  assert.equal(r.status, 0, `deno task compile failed:\n${r.stdout}\n${r.stderr}`);
  binary = join(ROOT, "dist", "sluice");
});
after(() => dir?.remove());

describe("the compiled executable", () => {
  it("exists and prints its version", () => {
    assert.ok(existsSync(binary));
    const r = spawnSync(binary, ["version"], { encoding: "utf8", timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`sluice ${VERSION.replace(/\./g, "\\.")} \\(bun `));
  });

  it("proxies a --forward end to end and exits 0 on SIGTERM", { timeout: 60_000 }, async () => {
    const backend = startNamedServer(rt, "compiled");
    const port = await freePort(rt);
    const p = spawnSluice(rt, ["run", "--forward", `${port}:127.0.0.1:${backend.port}`], {
      binary,
      cwd: dir.path,
      env: { SLUICE_ADMIN_LISTENER: "", SLUICE_LISTENERS_PORT_MAX: "65535" },
    });
    try {
      await waitFor(() => canConnect(rt, port), {
        timeoutMs: 15_000,
        what: "the compiled sluice to listen",
      });
      assert.equal(await fetchBanner(rt, port), "compiled");
      p.signal("SIGTERM");
      assert.equal(await p.exited(10_000), 0);
    } finally {
      p.kill();
      backend.close();
    }
  });
});
