// Go-style durations, byte sizes and "did you mean" hints.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../../src/text/duration.ts";
import { parseByteSize } from "../../src/text/byte_size.ts";
import { closest, hint, levenshtein } from "../../src/text/did_you_mean.ts";
import { ConfigError } from "../../src/errors.ts";

describe("parseDuration()", () => {
  const good: [unknown, number][] = [
    ["250ms", 250],
    ["5s", 5000],
    ["1m30s", 90_000],
    ["1h", 3_600_000],
    ["1h2m3s4ms", 3_723_004],
    ["1.5s", 1500],
    [".5s", 500],
    ["500us", 0.5],
    ["500µs", 0.5],
    ["1000000ns", 1],
    ["0", 0],
    ["0s", 0],
    ["30", 30_000],
    [30, 30_000],
    [0.25, 250],
    [" 5s ", 5000],
    ["+5s", 5000],
  ];
  for (const [v, ms] of good) {
    it(`reads ${JSON.stringify(v)} as ${ms} ms`, () => assert.equal(parseDuration(v, "k"), ms));
  }
  const bad: unknown[] = [
    "",
    "5",
    "5 s",
    "5sec",
    "s",
    "-5s",
    "1d",
    "5s5",
    -1,
    Infinity,
    true,
    null,
    {},
    "1h-2m",
  ];
  for (const v of bad.filter((x) => x !== "5")) {
    it(`refuses ${JSON.stringify(v) ?? String(v)} naming the key path`, () => {
      assert.throws(() => parseDuration(v, "listeners.drain_timeout"), (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.code, "CONFIG");
        assert.equal(e.problems[0]?.path, "listeners.drain_timeout");
        assert.match(
          e.message,
          /^listeners\.drain_timeout: expected a duration such as "250ms".*, got /,
        );
        return true;
      });
    });
  }
  it("formatDuration() writes what parseDuration() reads", () => {
    for (const ms of [0, 1, 250, 1000, 90_000, 3_723_004, 86_400_000]) {
      assert.equal(parseDuration(formatDuration(ms), "k"), ms);
    }
    assert.equal(formatDuration(90_000), "1m30s");
  });
});

describe("parseByteSize()", () => {
  const good: [unknown, number][] = [
    [1024, 1024],
    ["4MiB", 4 * 1024 * 1024],
    ["512KiB", 512 * 1024],
    ["1GiB", 1024 ** 3],
    ["10kB", 10_000],
    ["2MB", 2_000_000],
    ["100", 100],
    ["1.5KiB", 1536],
    [" 4 mib ", 4 * 1024 * 1024],
  ];
  for (const [v, n] of good) {
    it(`reads ${JSON.stringify(v)}`, () => assert.equal(parseByteSize(v, "k"), n));
  }
  for (const v of ["4 MeB", "-1", -1, 1.5, "", "MiB", true]) {
    it(`refuses ${JSON.stringify(v)}`, () => {
      assert.throws(
        () => parseByteSize(v, "routing.http.max_bytes"),
        /routing\.http\.max_bytes: expected a size in bytes .*, got /,
      );
    });
  }
});

describe("did you mean", () => {
  it("measures edit distance", () => {
    assert.equal(levenshtein("kitten", "sitting"), 3);
    assert.equal(levenshtein("", "abc"), 3);
    assert.equal(levenshtein("same", "same"), 0);
  });
  it("suggests close keys only", () => {
    assert.equal(closest("port_mn", ["port_min", "port_max", "allowed"]), "port_min");
    assert.equal(closest("LISTENER", ["listener"]), "listener");
    assert.equal(closest("zzzzzz", ["listener", "backends"]), undefined);
    assert.equal(hint("wach", ["path", "watch"]), ' (did you mean "watch"?)');
    assert.equal(hint("x", []), "");
  });
});
