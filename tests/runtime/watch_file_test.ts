// watchFile(): debounced callbacks for in-place edits, atomic rename-saves, and delete then
// create; other files in the directory are ignored.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
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
import { rt, sleep, waitFor } from "./_helpers.ts";

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), "sluice-watch-"));
  const file = join(dir, "routing.yaml");
  writeFileSync(file, "a: 1\n");
  let calls = 0;
  const w = rt.watchFile(file, () => calls++, { debounceMs: 100 });
  t.after(() => {
    w.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, file, calls: () => calls, w };
}

describe("watchFile()", () => {
  it(
    "calls back once, debounced, for an in-place edit written in two chunks",
    { timeout: 10000 },
    async (t) => {
      const s = setup(t);
      await sleep(100); // let the watch settle
      writeFileSync(s.file, "a: 2\n");
      await sleep(20);
      writeFileSync(s.file, "a: 2\nb: 3\n", { flag: "w" });
      assert.ok(await waitFor(() => s.calls() >= 1, 1000), "a callback within 1 s");
      await sleep(300);
      assert.equal(s.calls(), 1, "the burst was debounced into one call");
    },
  );

  it("keeps watching across atomic rename-saves", { timeout: 10000 }, async (t) => {
    const s = setup(t);
    await sleep(100);
    for (let i = 1; i <= 2; i++) {
      const tmp = join(s.dir, `.routing.yaml.tmp${i}`);
      writeFileSync(tmp, `a: ${i + 10}\n`);
      renameSync(tmp, s.file);
      assert.ok(await waitFor(() => s.calls() >= i, 1000), `callback ${i} within 1 s`);
      await sleep(200);
    }
  });

  it("calls back when the file is deleted and created again", { timeout: 10000 }, async (t) => {
    const s = setup(t);
    await sleep(100);
    unlinkSync(s.file);
    assert.ok(await waitFor(() => s.calls() >= 1, 1000), "a callback for the delete");
    await sleep(200);
    const before = s.calls();
    writeFileSync(s.file, "a: 5\n");
    assert.ok(await waitFor(() => s.calls() > before, 1000), "a callback for the creation");
  });

  it(
    "ignores other files in the directory and stops after close()",
    { timeout: 10000 },
    async (t) => {
      const s = setup(t);
      await sleep(100);
      writeFileSync(join(s.dir, "other.yaml"), "x\n");
      writeFileSync(join(s.dir, "routing.yaml.bak"), "x\n");
      await sleep(400);
      assert.equal(s.calls(), 0);
      s.w.close();
      writeFileSync(s.file, "a: 9\n");
      await sleep(400);
      assert.equal(s.calls(), 0);
    },
  );

  it("follows a Kubernetes-style ..data symlink swap", { timeout: 10000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-watch-k8s-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const v of ["v1", "v2"]) {
      mkdirSync(join(dir, v));
      writeFileSync(join(dir, v, "routing.yaml"), `${v}\n`);
    }
    symlinkSync("v1", join(dir, "..data"));
    symlinkSync("..data/routing.yaml", join(dir, "routing.yaml"));
    let calls = 0;
    const w = rt.watchFile(join(dir, "routing.yaml"), () => calls++, { debounceMs: 100 });
    t.after(() => w.close());
    await sleep(100);
    symlinkSync("v2", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    assert.ok(await waitFor(() => calls >= 1, 1000), "a callback within 1 s");
  });

  it("throws a SluiceError when the directory does not exist", () => {
    assert.throws(
      () => rt.watchFile("/nonexistent-sluice-dir/routing.yaml", () => {}),
      SluiceError,
    );
  });
});
