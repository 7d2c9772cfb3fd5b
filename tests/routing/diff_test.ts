// Table diffs: added, removed, changed (deep inequality) and unchanged listeners.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { diffTables } from "../../src/routing/diff.ts";
import { buildTable } from "../../src/routing/table.ts";
import { validateServices } from "../../src/routing/service.ts";
import { DEFAULT_SETTINGS } from "../../src/config/load.ts";
import type { RoutingTable } from "../../src/routing/types.ts";

function table(raw: unknown[]): RoutingTable {
  const d = validateServices(raw, "t");
  return buildTable([{ provider: "file", services: d.services }], {
    allowed: { local: "127.0.0.1" },
    portMin: 1024,
    portMax: 49151,
    defaults: DEFAULT_SETTINGS,
  }).table;
}

const keys = (plans: readonly { key: string }[]) => plans.map((p) => p.key);

describe("diffTables()", () => {
  it("sorts listeners into added, removed, changed and unchanged", () => {
    const prev = table([
      { name: "keep", listener: "local:2000", backends: ["10.0.0.1:1"] },
      { name: "gone", listener: "local:2001", backends: ["10.0.0.1:1"] },
      { name: "edit", listener: "local:2002", backends: ["10.0.0.1:1"] },
      { name: "tune", listener: "local:2004", backends: ["10.0.0.1:1"] },
    ]);
    const next = table([
      { name: "keep", listener: "local:2000", backends: ["10.0.0.1:1"] },
      { name: "edit", listener: "local:2002", backends: ["10.0.0.1:1", "10.0.0.2:1"] },
      { name: "new", listener: "local:2003", backends: ["10.0.0.1:1"] },
      { name: "tune", listener: "local:2004", backends: [{ address: "10.0.0.1:1", drain: true }] },
    ]);
    const d = diffTables(prev, next);
    assert.deepEqual(keys(d.added), ["127.0.0.1:2003"]);
    assert.deepEqual(keys(d.removed), ["127.0.0.1:2001"]);
    assert.deepEqual(keys(d.changed), ["127.0.0.1:2002", "127.0.0.1:2004"]);
    assert.deepEqual(keys(d.unchanged), ["127.0.0.1:2000"]);
    assert.equal(d.changed[0]?.backends.length, 2, "changed holds the next plan");
  });

  it("sees a change in settings alone", () => {
    const a = table([{ name: "s", listener: "local:2000", backends: [] }]);
    const b = table([{ name: "s", listener: "local:2000", backends: [], idle_timeout: "5m" }]);
    assert.deepEqual(keys(diffTables(a, b).changed), ["127.0.0.1:2000"]);
  });

  it("finds nothing changed between two builds of the same routes", () => {
    const raw = [{
      name: "s",
      listener: "local:2000",
      backends: ["10.0.0.1:1"],
      proxy: "socks5://u:p@h:1",
    }];
    const d = diffTables(table(raw), table(structuredClone(raw)));
    assert.deepEqual([d.added.length, d.removed.length, d.changed.length, d.unchanged.length], [
      0,
      0,
      0,
      1,
    ]);
  });

  it("reports everything removed against an empty table", () => {
    const prev = table([{ name: "s", listener: "local:2000", backends: [] }]);
    const d = diffTables(prev, { listeners: new Map() });
    assert.deepEqual(keys(d.removed), ["127.0.0.1:2000"]);
  });
});
