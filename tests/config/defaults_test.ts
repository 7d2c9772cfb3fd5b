// Defaults are declared once (src/defaults.ts): the loader, the published schema and
// `sluice bootstrap` all say the same thing.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULTS } from "../../src/defaults.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configJsonSchema } from "../../src/config/schema.ts";
import { writeBootstrap } from "../../src/cli/bootstrap.ts";
import { healthFromRaw } from "../../src/routing/service_fields.ts";

const dir = await mkdtemp(join(tmpdir(), "sluice-defaults-"));
after(() => rm(dir, { recursive: true, force: true }));

describe("DEFAULTS", () => {
  it("is what loadConfig gives with nothing set", async () => {
    const c = await loadConfig({ env: {} });
    assert.deepEqual(c.listeners, { ...DEFAULTS.listeners });
    assert.equal(c.admin.listener, DEFAULTS.admin.listener);
    assert.equal(c.peek.listener, DEFAULTS.peek.listener);
    assert.equal(c.defaults.connectTimeoutMs, DEFAULTS.settings.connectTimeoutMs);
    assert.equal(c.defaults.idleTimeoutMs, DEFAULTS.settings.idleTimeoutMs);
    assert.equal(c.runtime.workers, DEFAULTS.runtime.workers);
  });

  it("fills routing's health defaults", () => {
    const health = healthFromRaw({}, "health");
    assert.equal(health.intervalMs, DEFAULTS.health.intervalMs);
    assert.equal(health.fall, DEFAULTS.health.fall);
  });

  it("is what the published schema's descriptions name", () => {
    const text = JSON.stringify(configJsonSchema());
    assert.ok(text.includes(`inclusive (default ${DEFAULTS.listeners.portMax})`));
    assert.ok(text.includes(JSON.stringify(`default "${DEFAULTS.admin.listener}"`).slice(1, -1)));
    assert.ok(text.includes("on shutdown (default 30s)"));
  });

  it("is what sluice bootstrap writes", async () => {
    await writeBootstrap(dir, [{ label: "local", port: 5432, host: "::1", backendPort: 5433 }]);
    const c = await loadConfig({ path: join(dir, "config.toml"), env: {} });
    assert.deepEqual(c.listeners, { ...DEFAULTS.listeners });
    assert.equal(c.admin.listener, DEFAULTS.admin.listener);
  });
});
