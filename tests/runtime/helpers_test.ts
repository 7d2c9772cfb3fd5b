// The adapter's runtime-free helpers: address normalisation, error-code mapping, the shared
// idle sweeper and the buffer pool.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SluiceError } from "../../src/errors.ts";
import { bareHost, normaliseHost, sockAddr } from "../../src/runtime/_addr.ts";
import { fetchError, runtimeErrorCode, safeUrl, toSluiceError } from "../../src/runtime/_errors.ts";
import { createIdleSweeper, type IdleEntry } from "../../src/runtime/_idle_sweeper.ts";
import { createBufferPool } from "../../src/runtime/_buffer_pool.ts";
import { delay, waitFor } from "../_support/wait.ts";

describe("address normalisation", () => {
  it("strips brackets and the IPv4-mapped prefix and derives the family", () => {
    assert.equal(bareHost("[::]"), "::");
    assert.equal(bareHost("::1"), "::1");
    assert.equal(normaliseHost("::ffff:127.0.0.1"), "127.0.0.1");
    assert.equal(normaliseHost("[::FFFF:10.1.2.3]"), "10.1.2.3");
    assert.equal(normaliseHost("::ffff:abcd"), "::ffff:abcd");
    assert.deepEqual(sockAddr("::ffff:127.0.0.1", 80), { host: "127.0.0.1", port: 80, family: 4 });
    assert.deepEqual(sockAddr("[fe80::1]", 443), { host: "fe80::1", port: 443, family: 6 });
    assert.deepEqual(sockAddr("example.org", 1), { host: "example.org", port: 1, family: 4 });
  });
});

class FakeDenoError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

describe("error mapping", () => {
  const cases: [string, unknown, string][] = [
    ["a node/Bun code", Object.assign(new Error("x"), { code: "ECONNREFUSED" }), "ECONNREFUSED"],
    ["a DNS code", Object.assign(new Error("x"), { code: "EAI_AGAIN" }), "ENOTFOUND"],
    [
      "a Deno class name",
      new FakeDenoError("AddrInUse", "Address already in use (os error 98)"),
      "EADDRINUSE",
    ],
    [
      "a Deno PermissionDenied",
      new FakeDenoError("PermissionDenied", "Permission denied (os error 13)"),
      "EACCES",
    ],
    [
      "a Deno DNS failure with no code",
      new Error("failed to lookup address information: Name or service not known"),
      "ENOTFOUND",
    ],
    [
      "a Deno fetch failure with the reason in cause",
      new TypeError("fetch failed", { cause: new Error("Connection refused (os error 111)") }),
      "ECONNREFUSED",
    ],
    [
      "a timeout DOMException with a numeric code",
      Object.assign(new Error("Signal timed out."), { name: "TimeoutError", code: 23 }),
      "ETIMEDOUT",
    ],
    ["an abort", Object.assign(new Error("aborted"), { name: "AbortError" }), "ABORTED"],
    [
      "a reset",
      new FakeDenoError("ConnectionReset", "Connection reset by peer (os error 104)"),
      "ECONNRESET",
    ],
    ["EMFILE (a code)", Object.assign(new Error("x"), { code: "EMFILE" }), "ERESOURCE"],
    ["ENFILE (a code)", Object.assign(new Error("x"), { code: "ENFILE" }), "ERESOURCE"],
    ["ENOBUFS (a code)", Object.assign(new Error("x"), { code: "ENOBUFS" }), "ERESOURCE"],
    ["ENOMEM (a code)", Object.assign(new Error("x"), { code: "ENOMEM" }), "ERESOURCE"],
    ["Deno's EMFILE (a message)", new Error("Too many open files (os error 24)"), "ERESOURCE"],
    [
      "Deno's ENFILE (a message)",
      new Error("Too many open files in system (os error 23)"),
      "ERESOURCE",
    ],
    [
      "Deno's ENOBUFS (a message)",
      new Error("No buffer space available (os error 105)"),
      "ERESOURCE",
    ],
    ["Deno's ENOMEM (a message)", new Error("Cannot allocate memory (os error 12)"), "ERESOURCE"],
    [
      "EMFILE inside a fetch failure",
      new TypeError("fetch failed", { cause: new Error("Too many open files (os error 24)") }),
      "ERESOURCE",
    ],
    ["something else", new Error("boom"), "EUNKNOWN"],
    ["a non-error", "boom", "EUNKNOWN"],
  ];
  for (const [what, err, code] of cases) {
    it(`maps ${what} to ${code}`, () => assert.equal(runtimeErrorCode(err), code));
  }

  it("keeps the errno of a resource error in the message and the cause", () => {
    const cause = new Error("Too many open files (os error 24)");
    const e = toSluiceError(cause, "connect to 10.0.0.1:80");
    assert.equal(e.code, "ERESOURCE");
    assert.match(e.message, /^Cannot connect to 10\.0\.0\.1:80: ERESOURCE \(Too many open files/);
    assert.equal(e.cause, cause);
  });

  it("names the action and keeps the cause", () => {
    const cause = new FakeDenoError("AddrInUse", "Address already in use (os error 98)");
    const e = toSluiceError(cause, "listen on 127.0.0.1:80");
    assert.ok(e instanceof SluiceError);
    assert.equal(e.code, "EADDRINUSE");
    assert.match(e.message, /^Cannot listen on 127\.0\.0\.1:80: EADDRINUSE/);
    assert.equal(e.cause, cause);
    assert.equal(toSluiceError(e, "other"), e);
  });

  it("keeps queries and passwords out of fetch errors", () => {
    const url = "https://user:hunter2@consul.local:8501/v1/kv?token=s3cret";
    assert.equal(safeUrl(url), "https://consul.local:8501/v1/kv");
    const e = fetchError(
      new TypeError("fetch failed", {
        cause: new Error(`error sending request for url (${url}): refused hunter2`),
      }),
      url,
    );
    assert.doesNotMatch(e.message, /s3cret|hunter2/);
    assert.match(e.message, /consul\.local:8501\/v1\/kv/);
  });
});

describe("idle sweeper", () => {
  it(
    "ends only entries idle past their timeout and stops when empty",
    { timeout: 5000 },
    async () => {
      const s = createIdleSweeper({ maxTickMs: 50 });
      const ended: string[] = [];
      const busy: IdleEntry = {
        lastActivity: Date.now(),
        idleMs: 100,
        onIdle: () => ended.push("busy"),
      };
      const idle: IdleEntry = {
        lastActivity: Date.now(),
        idleMs: 100,
        onIdle: () => ended.push("idle"),
      };
      s.add(busy);
      s.add(idle);
      const keepBusy = setInterval(() => (busy.lastActivity = Date.now()), 20);
      try {
        assert.ok(await waitFor(() => ended.includes("idle"), { timeoutMs: 1000 }));
        await delay(150);
        assert.deepEqual(ended, ["idle"]);
        assert.equal(s.size, 1);
        s.delete(busy);
        assert.equal(s.size, 0);
      } finally {
        clearInterval(keepBusy);
      }
    },
  );
});

describe("buffer pool", () => {
  it("reuses released buffers up to its keep limit", () => {
    const p = createBufferPool({ size: 1024, keep: 1 });
    const a = p.get();
    const b = p.get();
    assert.equal(a.byteLength, 1024);
    p.release(a);
    p.release(b); // over the limit: dropped
    assert.equal(p.get(), a);
    assert.notEqual(p.get(), b);
  });
});
