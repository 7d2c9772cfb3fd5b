import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createStatusTracker } from "../../src/providers/status.ts";
import { createLogger, logSink } from "../../src/log.ts";
import { whenDone } from "../_support/cleanup.ts";

function capture(): { lines: string[]; restore: () => void } {
  const lines: string[] = [];
  const before = { write: logSink.write, level: logSink.level, format: logSink.format };
  logSink.write = (l) => lines.push(l);
  logSink.level = "debug";
  logSink.format = "json";
  return {
    lines,
    restore: () => Object.assign(logSink, before),
  };
}

describe("createStatusTracker()", () => {
  it("starts waiting and becomes ok with the update time, index and count on delivery", () => {
    const t = createStatusTracker({
      name: "file",
      kind: "file",
      log: createLogger("test"),
      now: () => new Date("2026-01-02T03:04:05Z"),
    });
    assert.equal(t.status().state, "waiting");
    assert.equal(t.status().lastUpdate, undefined);
    t.delivered({ services: 3, index: "abc" });
    assert.deepEqual(t.status(), {
      name: "file",
      kind: "file",
      state: "ok",
      services: 3,
      updates: 1,
      errors: 0,
      lastUpdate: "2026-01-02T03:04:05.000Z",
      index: "abc",
    });
  });

  it("logs a failure once per change of state, not once per retry", (t) => {
    const cap = capture();
    whenDone(t, cap.restore);
    const s = createStatusTracker({ name: "http", kind: "http", log: createLogger("p") });
    s.delivered({ services: 1 });
    assert.equal(s.failed({ kind: "unreachable", message: "refused" }), true);
    assert.equal(s.failed({ kind: "unreachable", message: "refused again" }), false);
    assert.equal(s.failed({ kind: "unreachable", message: "refused" }), false);
    assert.equal(s.failed({ kind: "http_status", message: "HTTP 500", key: "500" }), true);
    assert.equal(s.failed({ kind: "http_status", message: "HTTP 502", key: "502" }), true);
    assert.equal(s.status().state, "failing");
    assert.equal(s.status().lastError, "HTTP 502");
    assert.equal(s.status().errors, 5);
    assert.equal(s.status().services, 1, "the last good count is kept");
    s.unchanged();
    assert.equal(s.status().state, "ok");
    // After a recovery the same failure is news again.
    assert.equal(s.failed({ kind: "unreachable", message: "refused" }), true);
    const msgs = cap.lines.map((l) => JSON.parse(l).msg);
    assert.deepEqual(msgs, [
      "provider failing",
      "provider failing",
      "provider failing",
      "provider recovered",
      "provider failing",
    ]);
  });

  it("stays waiting when a provider that never delivered stops failing without news", () => {
    const s = createStatusTracker({ name: "f", kind: "file", log: createLogger("p") });
    const cap = capture();
    try {
      s.failed({ kind: "missing", message: "no such file" });
      s.unchanged();
    } finally {
      cap.restore();
    }
    assert.equal(s.status().state, "waiting");
  });

  it("ignores everything after stopped()", () => {
    const s = createStatusTracker({ name: "f", kind: "file", log: createLogger("p") });
    s.stopped();
    s.delivered({ services: 2 });
    assert.equal(s.failed({ kind: "garbage", message: "x" }), false);
    assert.equal(s.status().state, "stopped");
    assert.equal(s.status().services, 0);
  });
});
