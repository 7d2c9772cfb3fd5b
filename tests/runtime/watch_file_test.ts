// watchFile(): debounced callbacks for in-place edits, atomic rename-saves, and delete then
// create; other files in the directory are ignored.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SluiceError } from "../../src/errors.ts";
import { watchFileInDir, type WatchTimers } from "../../src/runtime/_watch_file.ts";
import { rt } from "./_helpers.ts";
import { delay, waitFor } from "../_support/wait.ts";
import { whenDone } from "../_support/cleanup.ts";

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), "sluice-watch-"));
  const file = join(dir, "routing.yaml");
  writeFileSync(file, "a: 1\n");
  let calls = 0;
  const w = rt.watchFile(file, () => calls++, { debounceMs: 100 });
  whenDone(t, () => {
    w.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, file, calls: () => calls, w };
}

/** Timers stepped by hand: the debounce fires only when the test says so. */
function manualTimers() {
  const pending = new Map<number, () => void>();
  let id = 0;
  let sets = 0;
  const timers: WatchTimers = {
    set(fn) {
      sets++;
      pending.set(++id, fn);
      return id;
    },
    clear(h) {
      pending.delete(h as number);
    },
  };
  return {
    timers,
    pending: () => pending.size,
    sets: () => sets,
    runAll() {
      const fns = [...pending.values()];
      pending.clear();
      for (const f of fns) f();
    },
  };
}

describe("watchFile()", () => {
  it(
    "calls back once, debounced, for an in-place edit written in two chunks",
    { timeout: 10000 },
    async (t) => {
      const s = setup(t);
      await delay(100); // let the watch settle
      writeFileSync(s.file, "a: 2\n");
      await delay(20);
      writeFileSync(s.file, "a: 2\nb: 3\n", { flag: "w" });
      assert.ok(await waitFor(() => s.calls() >= 1, { timeoutMs: 1000 }), "a callback within 1 s");
      await delay(300);
      assert.equal(s.calls(), 1, "the burst was debounced into one call");
    },
  );

  it("keeps watching across atomic rename-saves", { timeout: 10000 }, async (t) => {
    const s = setup(t);
    await delay(100);
    for (let i = 1; i <= 2; i++) {
      const tmp = join(s.dir, `.routing.yaml.tmp${i}`);
      writeFileSync(tmp, `a: ${i + 10}\n`);
      renameSync(tmp, s.file);
      assert.ok(
        await waitFor(() => s.calls() >= i, { timeoutMs: 1000 }),
        `callback ${i} within 1 s`,
      );
      await delay(200);
    }
  });

  it(
    "sees an atomic rename-save at once, without waiting for the debounce",
    { timeout: 10000 },
    async (t) => {
      const dir = mkdtempSync(join(tmpdir(), "sluice-watch-rename-"));
      const file = join(dir, "routing.yaml");
      writeFileSync(file, "a: 1\n");
      const clock = manualTimers();
      let calls = 0;
      // A debounce no test would wait for, and timers that never fire by themselves: only
      // the rename path can call back.
      const w = watchFileInDir(file, () => calls++, {
        debounceMs: 3_600_000,
        timers: clock.timers,
      });
      let calls2 = 0;
      const w2 = rt.watchFile(file, () => calls2++, { debounceMs: 3_600_000 });
      whenDone(t, () => {
        w.close();
        w2.close();
        rmSync(dir, { recursive: true, force: true });
      });
      await delay(100);
      for (let i = 1; i <= 2; i++) {
        const tmp = join(dir, `.routing.yaml.tmp${i}`);
        writeFileSync(tmp, `a: ${i + 10}\n`);
        renameSync(tmp, file);
        assert.ok(await waitFor(() => calls >= i, { timeoutMs: 5000 }), `rename ${i} called back`);
        assert.ok(
          await waitFor(() => calls2 >= i, { timeoutMs: 5000 }),
          `rename ${i} called back (runtime)`,
        );
      }
      assert.equal(clock.pending(), 0, "no debounce left pending after the renames");
    },
  );

  it("coalesces in-place writes in several chunks into one call", { timeout: 10000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-watch-chunks-"));
    const file = join(dir, "routing.yaml");
    writeFileSync(file, "a: 1\n");
    const clock = manualTimers();
    let calls = 0;
    const w = watchFileInDir(file, () => calls++, { debounceMs: 100, timers: clock.timers });
    whenDone(t, () => {
      w.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await delay(100);
    writeFileSync(file, "a: 2\n"); // truncates in place: the same inode
    appendFileSync(file, "b: 3\n");
    appendFileSync(file, "c: 4\n");
    assert.ok(
      await waitFor(() => clock.sets() >= 1, { timeoutMs: 5000 }),
      "the write armed the debounce",
    );
    await delay(200); // let the remaining events of the burst arrive
    assert.equal(calls, 0, "an in-place write waits for the debounce");
    assert.equal(clock.pending(), 1, "every event re-armed the one timer");
    clock.runAll();
    assert.equal(calls, 1, "the burst became one call");
    // A rename after in-place writes: read at once, and the pending debounce is dropped.
    appendFileSync(file, "d: 5\n");
    assert.ok(
      await waitFor(() => clock.pending() === 1, { timeoutMs: 5000 }),
      "the append armed the debounce",
    );
    const tmp = join(dir, ".routing.yaml.tmp");
    writeFileSync(tmp, "e: 6\n");
    renameSync(tmp, file);
    assert.ok(await waitFor(() => calls === 2, { timeoutMs: 5000 }), "the rename called back");
    assert.equal(clock.pending(), 0, "the rename's read covered the pending in-place write");
  });

  it("calls back when the file is deleted and created again", { timeout: 10000 }, async (t) => {
    const s = setup(t);
    await delay(100);
    unlinkSync(s.file);
    assert.ok(
      await waitFor(() => s.calls() >= 1, { timeoutMs: 1000 }),
      "a callback for the delete",
    );
    await delay(200);
    const before = s.calls();
    writeFileSync(s.file, "a: 5\n");
    assert.ok(
      await waitFor(() => s.calls() > before, { timeoutMs: 1000 }),
      "a callback for the creation",
    );
  });

  it(
    "ignores other files in the directory and stops after close()",
    { timeout: 10000 },
    async (t) => {
      const s = setup(t);
      await delay(100);
      writeFileSync(join(s.dir, "other.yaml"), "x\n");
      writeFileSync(join(s.dir, "routing.yaml.bak"), "x\n");
      await delay(400);
      assert.equal(s.calls(), 0);
      s.w.close();
      writeFileSync(s.file, "a: 9\n");
      await delay(400);
      assert.equal(s.calls(), 0);
    },
  );

  it("follows a Kubernetes-style ..data symlink swap", { timeout: 10000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-watch-k8s-"));
    whenDone(t, () => rmSync(dir, { recursive: true, force: true }));
    for (const v of ["v1", "v2"]) {
      mkdirSync(join(dir, v));
      writeFileSync(join(dir, v, "routing.yaml"), `${v}\n`);
    }
    symlinkSync("v1", join(dir, "..data"));
    symlinkSync("..data/routing.yaml", join(dir, "routing.yaml"));
    let calls = 0;
    const w = rt.watchFile(join(dir, "routing.yaml"), () => calls++, { debounceMs: 100 });
    whenDone(t, () => w.close());
    await delay(100);
    symlinkSync("v2", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    assert.ok(await waitFor(() => calls >= 1, { timeoutMs: 1000 }), "a callback within 1 s");
  });

  it("throws a SluiceError when the directory does not exist", () => {
    assert.throws(
      () => rt.watchFile("/nonexistent-sluice-dir/routing.yaml", () => {}),
      SluiceError,
    );
  });
});
