// Issue 12, bug 13: a routing path that blocks on read (a FIFO renamed over routing.toml, then
// SIGHUP) froze the whole proxy, and Deno then ignored SIGTERM. The file provider now opens
// non-blocking, refuses anything but a regular file (naming it and "not a regular file") and
// reads with a bound; the proxy keeps its routes.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readRegularFileSync } from "../../src/providers/file_read.ts";
import { createFileProvider } from "../../src/providers/file.ts";
import { getRuntime } from "../../src/runtime/detect.ts";
import { SluiceError } from "../../src/errors.ts";
import {
  fetchBanner,
  freePort,
  spawnSluice,
  startNamedServer,
  tempDir,
} from "../_support/helpers.ts";
import { captureLogger, collector } from "../providers/_harness.ts";
import { waitFor } from "../_support/wait.ts";
import { whenDone } from "../_support/cleanup.ts";

const rt = getRuntime();

function mkfifo(path: string): void {
  execFileSync("mkfifo", [path]);
}

describe("routing file reads never block", () => {
  it("readRegularFileSync refuses a FIFO and a directory at once, and bounds the size", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-fifo-"));
    whenDone(t, () => rm(dir, { recursive: true, force: true }));
    const fifo = join(dir, "pipe.toml");
    mkfifo(fifo);
    assert.throws(() => readRegularFileSync(fifo, 1024), (e: unknown) => {
      assert.ok(e instanceof SluiceError);
      assert.equal(e.code, "PROVIDER");
      assert.match(e.message, /pipe\.toml: not a regular file \(a FIFO\)/);
      return true;
    });
    assert.throws(() => readRegularFileSync(dir, 1024), /not a regular file \(a directory\)/);

    const big = join(dir, "big.toml");
    await writeFile(big, "x".repeat(5000));
    assert.throws(() => readRegularFileSync(big, 4096), (e: unknown) => {
      assert.ok(e instanceof SluiceError);
      assert.equal(e.code, "PROVIDER_TOO_LARGE");
      assert.match(e.message, /larger than max_bytes \(4096 bytes\)/);
      return true;
    });
    assert.equal(readRegularFileSync(big, 5000).byteLength, 5000);
    const empty = join(dir, "empty.toml");
    await writeFile(empty, "");
    assert.equal(readRegularFileSync(empty, 10).byteLength, 0);
    assert.throws(() => readRegularFileSync(join(dir, "missing.toml"), 10), { code: "ENOENT" });
  });

  it("the file provider keeps its routes when a FIFO replaces the file", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-fifo-"));
    whenDone(t, () => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "routing.toml");
    await writeFile(
      path,
      `[[services]]\nname = "a"\nlistener = "local:20001"\nbackends = ["127.0.0.1:9000"]\n`,
    );
    const p = createFileProvider({ rt, config: { path, watch: false }, log: captureLogger() });
    whenDone(t, () => p.stop());
    const c = collector();
    p.start((s) => c.onSnapshot(s));
    await waitFor(() => c.snapshots.length === 1, { what: "the first snapshot" });
    const fifo = join(dir, "fifo");
    mkfifo(fifo);
    await rename(fifo, path);
    await p.reload?.();
    assert.equal(p.status().state, "failing");
    assert.match(p.status().lastError ?? "", /routing\.toml: not a regular file \(a FIFO\)/);
    assert.equal(c.snapshots.length, 1);
    assert.equal(p.status().services, 1);
  });

  it("sluice: a FIFO renamed over routing.toml + SIGHUP keeps serving; SIGTERM exits", async () => {
    const dir = await tempDir("sluice-fifo-e2e-");
    const backend = startNamedServer(rt, "kept");
    const port = await freePort(rt);
    const config = join(dir.path, "config.toml");
    await writeFile(
      config,
      `[listeners]
allowed = { local = "127.0.0.1" }
port_min = 1024
port_max = 65535
drain_timeout = "1s"
bind_retry = "300ms"

[admin]
listener = ""

[routing.file]
path = "routing.toml"
`,
    );
    await writeFile(
      join(dir.path, "routing.toml"),
      `[[services]]\nname = "kept"\nlistener = "local:${port}"\nbackends = ["127.0.0.1:${backend.port}"]\n`,
    );
    const sluice = spawnSluice(rt, ["run", "-c", config], { cwd: dir.path });
    try {
      const served = async () => (await fetchBanner(rt, port).catch(() => "")) === "kept";
      await waitFor(served, {
        timeoutMs: 20_000,
        intervalMs: 50,
        what: `port ${port} to serve:\n${sluice.lines.join("\n")}`,
      });
      const fifo = join(dir.path, "fifo");
      mkfifo(fifo);
      await rename(fifo, join(dir.path, "routing.toml"));
      sluice.signal("SIGHUP");
      await sluice.waitForLine(/not a regular file/, 15_000);
      assert.ok(await served(), "the old route still serves after the refused read");
      sluice.signal("SIGTERM");
      assert.equal(await sluice.exited(15_000), 0, sluice.lines.join("\n"));
    } finally {
      sluice.kill();
      await sluice.exited(10_000).catch(() => null);
      backend.close();
      await dir.remove();
    }
  });
});
