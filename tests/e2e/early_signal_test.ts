// A signal that arrives while sluice is still starting (its first listener already open, its
// handlers not yet installed) used to kill it with the signal's default action: no drain,
// exit 128+N. The handlers now go in before anything opens, so the signal is honoured once
// the app is up.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort, runtime, spawnSluice, tempDir } from "../_support/helpers.ts";

const rt = await runtime();
const dir = await tempDir("sluice-early-signal-");
after(() => dir.remove());

async function configWithListeners(n: number): Promise<string> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort(rt));
  const services = ports.map((p, i) =>
    `[[services]]\nname = "s${i}"\nlistener = "local:${p}"\nbackends = ["127.0.0.1:9"]\n`
  ).join("\n");
  await writeFile(join(dir.path, "routing.toml"), services);
  const config = join(dir.path, "config.toml");
  await writeFile(
    config,
    [
      '[listeners]\nport_min = 1\nport_max = 65535\ndrain_timeout = "2s"',
      '[admin]\nlistener = ""',
      '[routing.file]\npath = "routing.toml"',
    ].join("\n\n") + "\n",
  );
  return config;
}

describe("a signal during start-up", () => {
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    it(`${sig} right after the first listener opens drains and exits 0`, async () => {
      const config = await configWithListeners(20);
      const p = spawnSluice(rt, ["run", "-c", config]);
      try {
        await p.waitForLine(/listener opened/, 20_000);
        p.signal(sig);
        const code = await p.exited(20_000);
        assert.equal(code, 0, p.lines.join("\n"));
        assert.ok(p.lines.some((l) => /shutting down/.test(l)), "the drain was logged");
        assert.ok(p.lines.some((l) => /\bstopped\b/.test(l)), "the stop was logged");
      } finally {
        p.kill();
      }
    });
  }
});
