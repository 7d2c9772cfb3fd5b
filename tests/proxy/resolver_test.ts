// Backend name expansion: IP literals, TTL caching with floor and cap, failures keep the last
// addresses, background refresh with change notification, and one real lookup of localhost.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createResolver, dnsLookup, type LookupResult } from "../../src/proxy/resolver.ts";
import { SluiceError } from "../../src/errors.ts";
import { lookup } from "node:dns/promises";
import { delay, waitFor } from "../_support/wait.ts";

/** A lookup that answers from a script, one step per call; "fail" rejects, "hang" never answers. */
function scripted(steps: (LookupResult | "fail" | "hang")[]) {
  const calls: string[] = [];
  const fn = (host: string): Promise<LookupResult> => {
    calls.push(host);
    const s = steps.length > 1 ? steps.shift()! : steps[0]!;
    if (s === "fail") return Promise.reject(new Error("SERVFAIL"));
    if (s === "hang") return new Promise(() => {});
    return Promise.resolve(s);
  };
  return { fn, calls };
}

function clock() {
  const c = { t: 1_000_000, now: () => c.t };
  return c;
}

describe("createResolver", () => {
  it("returns IP literals as they are, without a lookup", async () => {
    const l = scripted(["fail"]);
    const r = createResolver({ lookup: l.fn });
    assert.deepEqual(await r.resolve("10.0.0.7"), ["10.0.0.7"]);
    assert.deepEqual(await r.resolve("2001:db8::1"), ["2001:db8::1"]);
    assert.deepEqual(await r.resolve("[::1]"), ["::1"]);
    assert.deepEqual(r.cached("10.0.0.7"), ["10.0.0.7"]);
    assert.deepEqual(l.calls, []);
  });

  it("expands a name to all its A and AAAA records, IPv4 first, without duplicates", async () => {
    const l = scripted([{
      addresses: ["2001:db8::2", "10.0.0.2", "10.0.0.1", "10.0.0.2", "2001:db8::1"],
      ttlMs: 60_000,
    }]);
    const r = createResolver({ lookup: l.fn });
    assert.deepEqual(await r.resolve("db.internal"), [
      "10.0.0.1",
      "10.0.0.2",
      "2001:db8::1",
      "2001:db8::2",
    ]);
  });

  it("serves from the cache until the TTL runs out, then looks up again", async () => {
    const c = clock();
    const l = scripted([{ addresses: ["10.0.0.1"], ttlMs: 30_000 }, {
      addresses: ["10.0.0.9"],
      ttlMs: 30_000,
    }]);
    const r = createResolver({ lookup: l.fn, now: c.now, minTtlMs: 1000, maxTtlMs: 600_000 });
    assert.deepEqual(await r.resolve("a.example"), ["10.0.0.1"]);
    c.t += 29_999;
    assert.deepEqual(await r.resolve("a.example"), ["10.0.0.1"]);
    assert.equal(l.calls.length, 1);
    c.t += 1;
    assert.deepEqual(await r.resolve("a.example"), ["10.0.0.9"]);
    assert.equal(l.calls.length, 2);
  });

  it("clamps the TTL to the floor and the cap, and uses 30 s when there is none", async () => {
    const cases: [number | undefined, number][] = [[1, 5000], [10_000_000, 60_000], [
      undefined,
      30_000,
    ], [20_000, 20_000]];
    for (const [ttl, fresh] of cases) {
      const c = clock();
      const l = scripted([
        ttl === undefined ? { addresses: ["10.0.0.1"] } : { addresses: ["10.0.0.1"], ttlMs: ttl },
      ]);
      const r = createResolver({ lookup: l.fn, now: c.now, minTtlMs: 5000, maxTtlMs: 60_000 });
      await r.resolve("h");
      c.t += fresh - 1;
      await r.resolve("h");
      assert.equal(l.calls.length, 1, `ttl ${ttl}: looked up again too early`);
      c.t += 1;
      await r.resolve("h");
      assert.equal(l.calls.length, 2, `ttl ${ttl}: not looked up again after ${fresh}ms`);
    }
  });

  it("re-resolves a name without TTL at noTtlMs (iaido's /etc/hosts names)", async () => {
    const c = clock();
    const l = scripted([{ addresses: ["10.0.0.1"] }, { addresses: ["10.0.0.2"] }]);
    const r = createResolver({ lookup: l.fn, now: c.now, minTtlMs: 1000, noTtlMs: 7000 });
    await r.resolve("h");
    c.t += 6999;
    assert.deepEqual(await r.resolve("h"), ["10.0.0.1"]);
    c.t += 1;
    assert.deepEqual(await r.resolve("h"), ["10.0.0.2"]);
    assert.equal(l.calls.length, 2);
  });

  it("expands localhost as the system does, on both runtimes", async () => {
    const r = await dnsLookup("localhost");
    assert.equal(r.ttlMs, undefined, "getaddrinfo has no TTL");
    const sys = (await lookup("localhost", { all: true })).map((a) => a.address).sort();
    assert.deepEqual([...r.addresses].sort(), sys);
  });

  it("keeps the last addresses when a later resolution fails", async () => {
    const c = clock();
    const l = scripted([{ addresses: ["10.0.0.1", "10.0.0.2"], ttlMs: 1000 }, "fail", {
      addresses: [],
    }]);
    const r = createResolver({ lookup: l.fn, now: c.now, minTtlMs: 1000 });
    await r.resolve("h");
    c.t += 1000;
    assert.deepEqual(await r.resolve("h"), ["10.0.0.1", "10.0.0.2"]);
    c.t += 1000;
    // An empty answer is a failure too.
    assert.deepEqual(await r.resolve("h"), ["10.0.0.1", "10.0.0.2"]);
    assert.deepEqual(r.cached("h"), ["10.0.0.1", "10.0.0.2"]);
    assert.equal(l.calls.length, 3);
  });

  it("rejects with ENOTFOUND naming the host when it never resolved", async () => {
    const r = createResolver({ lookup: scripted(["fail"]).fn });
    await assert.rejects(r.resolve("gone.example"), (e: unknown) => {
      assert.ok(e instanceof SluiceError);
      assert.equal(e.code, "ENOTFOUND");
      assert.match(e.message, /"gone\.example".*SERVFAIL/);
      return true;
    });
    assert.equal(r.cached("gone.example"), undefined);
  });

  it("gives up on a lookup that does not answer in time", async () => {
    const r = createResolver({ lookup: scripted(["hang"]).fn, timeoutMs: 50 });
    await assert.rejects(r.resolve("slow.example"), /no answer within 50ms/);
  });

  it("shares one lookup between concurrent callers", async () => {
    const l = scripted([{ addresses: ["10.0.0.1"], ttlMs: 60_000 }]);
    const r = createResolver({ lookup: l.fn });
    const all = await Promise.all([r.resolve("h"), r.resolve("h"), r.resolve("h")]);
    assert.deepEqual(all, [["10.0.0.1"], ["10.0.0.1"], ["10.0.0.1"]]);
    assert.equal(l.calls.length, 1);
  });

  it(
    "watch re-resolves in the background and reports only real changes",
    { timeout: 10_000 },
    async () => {
      const l = scripted([
        { addresses: ["10.0.0.1"], ttlMs: 1 },
        { addresses: ["10.0.0.1"], ttlMs: 1 },
        { addresses: ["10.0.0.2", "10.0.0.1"], ttlMs: 1 },
        "fail",
        { addresses: ["10.0.0.3"], ttlMs: 1 },
        { addresses: ["10.0.0.3"], ttlMs: 1 },
      ]);
      const r = createResolver({ lookup: l.fn, minTtlMs: 20, maxTtlMs: 20 });
      const seen: string[][] = [];
      const stop = r.watch("h", (a) => seen.push(a));
      try {
        await waitFor(() => seen.length >= 3, { timeoutMs: 5000, what: "three changes" });
        await waitFor(() => l.calls.length >= 7, {
          timeoutMs: 5000,
          what: "refreshes after the last change",
        });
        assert.deepEqual(seen, [["10.0.0.1"], ["10.0.0.1", "10.0.0.2"], ["10.0.0.3"]]);
      } finally {
        stop();
      }
      const calls = l.calls.length;
      await delay(100);
      assert.ok(l.calls.length <= calls + 1, "kept resolving after the watcher stopped");
      r.close();
    },
  );

  it(
    "a watcher starts from the cached addresses and hears only later changes",
    { timeout: 10_000 },
    async () => {
      const l = scripted([{ addresses: ["10.0.0.1"], ttlMs: 1 }, {
        addresses: ["10.0.0.5"],
        ttlMs: 1,
      }]);
      const r = createResolver({ lookup: l.fn, minTtlMs: 20, maxTtlMs: 20 });
      await r.resolve("h");
      const seen: string[][] = [];
      r.watch("h", (a) => seen.push(a));
      try {
        await waitFor(() => seen.length >= 1, { timeoutMs: 5000, what: "a change" });
        assert.deepEqual(seen, [["10.0.0.5"]]);
      } finally {
        r.close();
      }
    },
  );

  it("watching an IP literal does nothing", () => {
    const l = scripted(["fail"]);
    const r = createResolver({ lookup: l.fn });
    r.watch("127.0.0.1", () => assert.fail("called"))();
    assert.deepEqual(l.calls, []);
  });
});

describe("dnsLookup", () => {
  it(
    "resolves localhost to a loopback address (through DNS or /etc/hosts)",
    { timeout: 15_000 },
    async () => {
      const r = await dnsLookup("localhost");
      assert.ok(r.addresses.length > 0);
      for (const a of r.addresses) {
        assert.ok(
          a === "::1" || a.startsWith("127."),
          `unexpected ${a}`,
        );
      }
      const real = createResolver();
      try {
        const addrs = await real.resolve("localhost");
        assert.ok(addrs.some((a) => a === "127.0.0.1" || a === "::1"));
      } finally {
        real.close();
      }
    },
  );
});
