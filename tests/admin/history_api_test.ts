// GET /api/v1/history over a history the test feeds with an injected clock: the token rules of
// the rest of the API, the query parameters, the answer's schema and values.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHistory, type Snapshot } from "../../src/admin/history/history.ts";
import { History } from "../../src/admin/history_schemas.ts";
import { startTestAdmin, type TestAdmin } from "./_admin_server.ts";
import { fakeBackend, fakeListener } from "./_fake_engine.ts";

const T0 = 1_800_000_000;

function snap(i: number): Snapshot {
  return {
    listeners: [
      {
        key: "127.0.0.1:5432",
        counters: { active: i, total: 10 * i, refused: 0, bytesUp: 100 * i, bytesDown: 1000 * i },
        backends: [{
          key: "10.0.0.7:5432",
          health: i >= 3 ? "down" : "up",
          ejected: false,
          drain: false,
          counters: {
            active: i,
            total: 10 * i,
            connectFailures: 0,
            bytesUp: 100 * i,
            bytesDown: 1000 * i,
          },
        }],
      },
      {
        key: "127.0.0.1:6379",
        counters: { active: 0, total: i, refused: 0, bytesUp: 0, bytesDown: 0 },
        backends: [],
      },
    ],
    providers: [{ name: "file", state: "ok", lastUpdate: i === 0 ? "a" : "b" }],
  };
}

describe("GET /api/v1/history", { timeout: 30_000 }, () => {
  const token = "hist-s3cret";
  let admin: TestAdmin;
  const history = createHistory({ seconds: 60 });
  for (let i = 0; i <= 4; i++) history.observe((T0 + i) * 1000, snap(i));

  before(async () => {
    admin = await startTestAdmin({
      token,
      history,
      now: () => (T0 + 4) * 1000 + 300,
      listeners: [fakeListener("127.0.0.1:5432", [fakeBackend("10.0.0.7:5432")])],
    });
  });
  after(async () => await admin?.close());

  it("needs the token like the rest of the API", async () => {
    const r = await admin.get("/api/v1/history");
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error.code, "unauthorized");
    const w = await admin.get("/api/v1/history", { token: "wrong" });
    assert.equal(w.status, 401);
    await w.body?.cancel();
  });

  it("answers the whole window, per second, in the documented schema", async () => {
    const r = await admin.get("/api/v1/history", { token });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("cache-control"), "no-store");
    const body = History.parse(await r.json());
    assert.equal(body.until, T0 + 4);
    assert.equal(body.since, T0, "the window starts at the first sample, not before");
    assert.equal(body.t.at(-1), T0 + 4);
    const l = body.listeners.find((x) => x.address === "127.0.0.1:5432")!;
    assert.deepEqual(l.connections, [0, 10, 10, 10, 10]);
    assert.deepEqual(l.bytes_down.slice(-5), [0, 1000, 1000, 1000, 1000]);
    assert.deepEqual(l.active.slice(-5), [0, 1, 2, 3, 4]);
    assert.equal(l.connections.length, body.t.length);
    assert.deepEqual(l.backends[0]!.state.slice(-5), ["up", "up", "up", "down", "down"]);
    assert.deepEqual(body.totals.connections.slice(-5), [0, 11, 11, 11, 11]);
    assert.deepEqual(body.providers[0]!.updates.slice(-5), [0, 1, 0, 0, 0]);
    assert.deepEqual(
      body.events.map((e) => [e.kind, e.listener]),
      [["listener_opened", "127.0.0.1:5432"], ["listener_opened", "127.0.0.1:6379"]],
    );
    assert.equal(body.series.count, 4);
  });

  it("filters by listener and window, and downsamples by step and agg", async () => {
    const q = "?listener=127.0.0.1:6379&since=-3&until=" + (T0 + 4) + "&step=2&agg=max";
    const body = History.parse(await (await admin.get("/api/v1/history" + q, { token })).json());
    assert.equal(body.since, T0 + 1);
    assert.deepEqual(body.t, [T0, T0 + 2, T0 + 4]);
    assert.deepEqual(body.listeners.map((l) => l.address), ["127.0.0.1:6379"]);
    assert.deepEqual(body.listeners[0]!.connections, [1, 1, 1]);
    assert.deepEqual(body.events, [], "the opened events are before since");
    const avg = History.parse(
      await (await admin.get(`/api/v1/history?since=${T0}&step=5`, { token })).json(),
    );
    assert.deepEqual(avg.t, [T0]);
    assert.deepEqual(avg.listeners[0]!.connections, [8]); // (0+10+10+10+10)/5
    const none = History.parse(
      await (await admin.get("/api/v1/history?listener=&since=-1", { token })).json(),
    );
    assert.deepEqual(none.listeners, [], "an empty listener keeps the totals only");
    assert.deepEqual(none.totals.connections, [11, 11]);
  });

  it("rejects bad parameters with 400 and the field", async () => {
    for (
      const [q, field] of [
        ["step=0", "step"],
        ["step=abc", "step"],
        ["since=yesterday", "since"],
        ["agg=sum", "agg"],
        ["color=red", "color"],
        [`since=${T0 + 4}&until=${T0}`, "since"],
      ]
    ) {
      const r = await admin.get("/api/v1/history?" + q, { token });
      assert.equal(r.status, 400, q);
      const b = await r.json();
      assert.equal(b.error.code, "bad_request", q);
      assert.equal(b.error.field, field, q);
    }
  });

  it("is in the OpenAPI document with its schema", async () => {
    const doc = await (await admin.get("/openapi.json", { token })).json();
    const op = doc.paths["/api/v1/history"].get;
    assert.equal(op.operationId, "getHistory");
    assert.equal(
      op.responses["200"].content["application/json"].schema.$ref,
      "#/components/schemas/History",
    );
    assert.ok(doc.components.schemas.HistoryListener);
  });
});
