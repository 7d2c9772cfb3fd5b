// GET/DELETE /api/v1/stick over an engine's stick table (a real engine: the table is its own).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createAdminApp } from "../../src/admin/app.ts";
import { StickEntries } from "../../src/admin/stick.ts";
import { createMetrics } from "../../src/admin/metrics.ts";
import type { StickView } from "../../src/proxy/types.ts";

function engine() {
  const entries: StickView[] = [
    { service: "a", client: "10.0.0.1", backend: "h1", usedMs: 0, expiresMs: 10_000 },
    { service: "a", client: "10.0.0.2", backend: "h2", usedMs: 0, expiresMs: 10_000 },
    { service: "b", client: "10.0.0.1", backend: "h3", usedMs: 0, expiresMs: 10_000 },
  ];
  return {
    entries,
    listeners: () => [],
    setDrain: () => false,
    stickEntries: () => entries,
    unstick(service?: string, client?: string) {
      const before = entries.length;
      const keep = entries.filter((e) =>
        (service !== undefined && e.service !== service) ||
        (client !== undefined && e.client !== client)
      );
      entries.splice(0, entries.length, ...keep);
      return before - entries.length;
    },
  };
}

function app(e: ReturnType<typeof engine>) {
  return createAdminApp({
    engine: e,
    providers: () => [],
    metrics: createMetrics(),
    token: "",
    version: "x",
    runtime: "x",
  });
}

describe("/api/v1/stick", () => {
  it("lists entries (optionally of one service) in the documented shape", async () => {
    const a = app(engine());
    const all = await (await a.request("http://127.0.0.1/api/v1/stick")).json();
    assert.equal(StickEntries.parse(all).entries.length, 3);
    assert.equal(all.entries[0].expires, new Date(10_000).toISOString());
    const one = await (await a.request("http://127.0.0.1/api/v1/stick?service=b")).json();
    assert.deepEqual(one.entries.map((e: { backend: string }) => e.backend), ["h3"]);
  });

  it("deletes one client's entry, a service's, or all", async () => {
    const e = engine();
    const a = app(e);
    const del = async (q: string) =>
      (await (await a.request(`http://127.0.0.1/api/v1/stick${q}`, { method: "DELETE" })).json())
        .deleted;
    assert.equal(await del("?service=a&client=10.0.0.2"), 1);
    assert.equal(await del("?client=10.0.0.1"), 2, "that client in every service");
    assert.equal(e.entries.length, 0);
    e.entries.push({ service: "a", client: "c", backend: "h", usedMs: 0, expiresMs: 1 });
    assert.equal(await del("?service=zzz"), 0);
    assert.equal(await del("?service=a"), 1);
  });
});
