// configs/ (the files the README starts sluice with) load, agree across formats, and route
// what the README promises, so they cannot rot.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../src/config/load.ts";
import { formatFromPath, parseRoutingDocument } from "../../src/routing/document.ts";
import { buildTable } from "../../src/routing/table.ts";
import { tableConfigFrom } from "../../src/config/table_config.ts";
import type { Config } from "../../src/config/types.ts";
import type { RoutingTable } from "../../src/routing/types.ts";

const ROOT = join(fileURLToPath(new URL(".", import.meta.url)), "../..");
const CONFIGS = ["config.toml", "config.yaml", "config.json"].map((f) => join(ROOT, "configs", f));

async function tableOf(config: Config): Promise<RoutingTable> {
  const path = config.routing.file?.path;
  assert.ok(path, "the example config names a routing file");
  const format = formatFromPath(path);
  assert.ok(format);
  const doc = parseRoutingDocument(await readFile(path, "utf8"), format, path);
  assert.deepEqual(doc.problems, []);
  const built = buildTable([{ provider: "file", services: doc.services }], tableConfigFrom(config));
  assert.deepEqual(built.problems, []);
  return built.table;
}

describe("configs/ examples", () => {
  it("load in every format to the same configuration", async () => {
    const all = await Promise.all(CONFIGS.map((path) => loadConfig({ path, env: {} })));
    const strip = (c: Config) => ({ ...c, source: "", routing: { ...c.routing, file: undefined } });
    for (const c of all) assert.deepEqual(strip(c), strip(all[0] as Config));
    const c = all[0] as Config;
    assert.equal(c.admin.listener, "127.0.0.1:9090");
    assert.equal(c.peek.listener, "127.0.0.1:4444");
    assert.equal(c.routing.file?.path, join(ROOT, "configs", "routing.toml"));
    assert.equal(c.routing.file?.watch, true);
  });

  it("route 127.0.0.1:8080 to the admin API and 127.0.0.1:8081 to peek with a failover", async () => {
    const tables = await Promise.all(
      CONFIGS.map(async (path) => tableOf(await loadConfig({ path, env: {} }))),
    );
    for (const t of tables) {
      assert.deepEqual([...t.listeners.entries()], [
        ...(tables[0] as RoutingTable).listeners.entries(),
      ]);
    }
    const t = tables[0] as RoutingTable;
    assert.deepEqual([...t.listeners.keys()], ["127.0.0.1:8080", "127.0.0.1:8081"]);
    assert.deepEqual(t.listeners.get("127.0.0.1:8080")?.backends.map((b) => b.address), [
      "127.0.0.1:9090",
    ]);
    assert.deepEqual(t.listeners.get("127.0.0.1:8081")?.backends.map((b) => b.address), [
      "127.0.0.1:9",
      "127.0.0.1:4444",
    ]);
    assert.equal(t.listeners.get("127.0.0.1:8081")?.settings.connectTimeoutMs, 1000);
  });
});
