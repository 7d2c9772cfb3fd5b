// dill's own example files (configs/dill/, copied from dill's README) load unchanged and give
// the same listeners in TOML, YAML and JSON (SPEC section 8).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../src/config/load.ts";
import { parseRoutingDocument } from "../../src/routing/document.ts";
import { buildTable } from "../../src/routing/table.ts";
import { tableConfigFrom } from "../../src/config/table_config.ts";
import type { DocumentFormat } from "../../src/routing/document.ts";

const DIR = join(fileURLToPath(new URL(".", import.meta.url)), "../../configs/dill");
const FORMATS: DocumentFormat[] = ["toml", "yaml", "json"];

describe("dill's example files", () => {
  it("configs load unchanged and give the same listener settings", async () => {
    const all = await Promise.all(
      FORMATS.map((f) => loadConfig({ path: join(DIR, `config.${f}`), env: {} })),
    );
    for (const c of all) {
      assert.deepEqual(c.listeners, all[0]?.listeners);
      assert.deepEqual(c.listeners.allowed, { local: "127.0.0.1", any: "0.0.0.0" });
      assert.equal(c.listeners.portMin, 1024);
      assert.equal(c.listeners.portMax, 49151);
      assert.equal(c.peek.listener, "127.0.0.1:4141");
      assert.equal(c.runtime.workers, 4, "runtime.gomaxprocs maps to runtime.workers");
    }
    // Each of dill's three examples names a different provider, exactly as its README does.
    assert.equal(all[0]?.routing.consul?.address, "http://127.0.0.1:8500");
    assert.equal(all[1]?.routing.http?.endpoint, "http://127.0.0.1:8000/config/routing.json");
    assert.equal(all[1]?.routing.http?.pollIntervalMs, 5000);
    assert.deepEqual(all[2]?.routing.file, {
      path: "/Users/fwkz/Devel/dill/configs/routing.toml",
      watch: true,
    });
  });

  it("routing documents give the same table in every format", async () => {
    const config = await loadConfig({ path: join(DIR, "config.toml"), env: {} });
    const tables = await Promise.all(FORMATS.map(async (f) => {
      const path = join(DIR, `routing.${f}`);
      const doc = parseRoutingDocument(await readFile(path, "utf8"), f, path);
      assert.deepEqual(doc.problems, []);
      const built = buildTable(
        [{ provider: "file", services: doc.services }],
        tableConfigFrom(config),
      );
      assert.deepEqual(built.problems, []);
      return built.table;
    }));
    for (const t of tables) {
      assert.deepEqual([...t.listeners.entries()], [...(tables[0]?.listeners.entries() ?? [])]);
    }
    const t = tables[0];
    assert.deepEqual([...(t?.listeners.keys() ?? [])], ["0.0.0.0:4444", "127.0.0.1:1234"]);
    assert.deepEqual(t?.listeners.get("127.0.0.1:1234")?.backends.map((b) => b.key), [
      "socks5://user:***@127.0.0.1:1080 ➤ 127.0.0.1:5050",
    ]);
    assert.deepEqual(t?.listeners.get("0.0.0.0:4444")?.backends.map((b) => b.key), [
      "127.0.0.1:4000",
      "127.0.0.1:4001",
    ]);
  });

  it("dill's DILL_ variables from its README are read", async () => {
    const c = await loadConfig({
      env: {
        DILL_LISTENERS_PORT_MIN: "1234",
        DILL_ROUTING_CONSUL_ADDRESS: "http://127.0.0.1:8500",
      },
    });
    assert.equal(c.listeners.portMin, 1234);
    assert.equal(c.routing.consul?.address, "http://127.0.0.1:8500");
  });
});
