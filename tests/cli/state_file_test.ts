// runtime.state_file: atomic saves, and a missing or broken file is a fresh start (logged).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadState, saveState, startStateSaver } from "../../src/cli/state_file.ts";
import { createLogger } from "../../src/log.ts";
import { tempDir } from "../_support/helpers.ts";

const log = createLogger("state");
const ENTRY = { key: "app\u000010.0.0.1", backend: "10.0.0.9", usedMs: 1, expirationMs: 5 };

describe("state file", () => {
  it("saves atomically and loads what it saved", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "deep", "state.json");
      await saveState(path, {
        version: 1,
        saved_at: new Date().toISOString(),
        stick: [ENTRY],
        health: [{ listener: "127.0.0.1:1", backend: "b", state: "down", disabled: true }],
      });
      assert.deepEqual(await readdir(join(dir.path, "deep")), ["state.json"]); // no temp left
      const s = await loadState(path, log);
      assert.deepEqual(s.stick, [ENTRY]);
      assert.deepEqual(s.health.get("127.0.0.1:1\u0000b"), { state: "down", disabled: true });
    } finally {
      await dir.remove();
    }
  });

  it("starts fresh on a missing, broken or foreign file, keeping the valid entries only", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "state.json");
      assert.equal((await loadState(path, log)).stick.length, 0);
      await writeFile(path, "{not json");
      assert.equal((await loadState(path, log)).stick.length, 0);
      await writeFile(path, JSON.stringify({ version: 2, stick: [ENTRY] }));
      assert.equal((await loadState(path, log)).stick.length, 0);
      await writeFile(
        path,
        JSON.stringify({ version: 1, stick: [ENTRY, { key: 1 }], health: [{}] }),
      );
      const s = await loadState(path, log);
      assert.deepEqual(s.stick, [ENTRY]);
      assert.equal(s.health.size, 0);
    } finally {
      await dir.remove();
    }
  });

  it("the saver writes once more at stop()", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "state.json");
      let n = 0;
      const saver = startStateSaver({
        path,
        intervalMs: 3_600_000,
        snapshot: () => ({ stick: [{ ...ENTRY, usedMs: ++n }], health: [] }),
        log,
      });
      await saver.stop();
      const saved = JSON.parse(await readFile(path, "utf8"));
      assert.equal(saved.stick[0].usedMs, 1);
    } finally {
      await dir.remove();
    }
  });
});

describe("runtime.state_file in the main config", () => {
  it("reads state_file and state_interval", async () => {
    const { loadConfig } = await import("../../src/config/load.ts");
    const dir = await tempDir();
    try {
      const path = join(dir.path, "config.toml");
      await writeFile(
        path,
        '[runtime]\nstate_file = "/var/lib/sluice/state.json"\nstate_interval = "30s"\n',
      );
      const c = await loadConfig({ path, env: {} });
      assert.equal(c.runtime.stateFile, "/var/lib/sluice/state.json");
      assert.equal(c.runtime.stateIntervalMs, 30_000);
    } finally {
      await dir.remove();
    }
  });
});
