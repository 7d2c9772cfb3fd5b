// Issue 12 bug 4, the unit part: logging never throws, whatever the fields or the sink do.
import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { configureLogging, createLogger, logSink, logSinkHealth } from "../../src/log.ts";

const saved = { ...logSink };

afterEach(() => configureLogging(saved));

describe("logging never throws", () => {
  it("a sink that throws loses the line; the caller goes on", () => {
    let calls = 0;
    // The level is set here: bun runs every file in one process, and another may have raised it.
    configureLogging({
      level: "debug",
      write: () => {
        calls++;
        throw new Error("EPIPE");
      },
    });
    const log = createLogger("t");
    assert.doesNotThrow(() => log.error("one"));
    assert.doesNotThrow(() => log.info("two", { a: 1 }));
    assert.equal(calls, 2);
  });

  it("fields that cannot be serialised still give a line (text and JSON)", () => {
    const lines: string[] = [];
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const format of ["json", "text"] as const) {
      configureLogging({ level: "debug", format, write: (l) => lines.push(l) });
      const log = createLogger("t");
      assert.doesNotThrow(() => log.warn("odd fields", { big: 10n, circular }));
    }
    assert.equal(lines.length, 2);
    for (const l of lines) assert.match(l, /odd fields/);
  });

  it("the stderr sink reports its health (not failed while stderr works)", () => {
    const h = logSinkHealth();
    assert.equal(typeof h.failed, "boolean");
    assert.equal(typeof h.dropped, "number");
  });
});
