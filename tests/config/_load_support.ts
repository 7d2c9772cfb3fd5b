// Shared by the loadConfig() tests: a scratch directory per test file, config files written
// into it, and the problems a ConfigError reports.
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/errors.ts";
import { loadConfig } from "../../src/config/load.ts";

/** The scratch directory of the running test file (set by useScratchDir's before hook). */
export let dir = "";

/** Registers hooks that create the scratch directory before the file's tests and remove it. */
export function useScratchDir(): void {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sluice-config-test-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));
}

let n = 0;
export async function file(text: string, ext = "toml"): Promise<string> {
  const path = join(dir, `c${n++}.${ext}`);
  await writeFile(path, text);
  return path;
}

export async function problems(
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

export const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
