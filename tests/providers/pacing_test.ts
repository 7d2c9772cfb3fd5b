// Pacing of the Consul and Nomad providers on an injected clock: the token bucket lets exactly
// one list read through per refill however fast the index churns (T17) or however fast reads
// come back without an index (T7), and a 403 or a 400 waits its least delay before a retry
// (T8, T13). The clock moves only when a test says so: no rate measured on the wall clock and
// no negative check by sleeping.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type FakeClock, fakeClock } from "./_harness.ts";
import { consulListReqs, nomadListReqs, setupConsul, setupNomad } from "./_setup.ts";
import { waitFor } from "../_support/wait.ts";
import { whenDone } from "../_support/cleanup.ts";

const TAGS = ["sluice", "sluice.listener=local:5001"];

/** Waits until the loop sleeps on exactly one timer, and returns that timer's length. */
async function parked(clock: FakeClock, what: string): Promise<number> {
  await waitFor(() => clock.waiting().length === 1, {
    what: `the loop to wait (${what})`,
    timeoutMs: 8000,
  });
  return clock.waiting()[0]!;
}

/**
 * Once the burst is spent, each refill period lets exactly one list read through: advancing the
 * clock by one refill gives one more read, and the loop then waits one refill again.
 */
async function oneReadPerRefill(
  clock: FakeClock,
  reads: () => number,
  refillMs: number,
): Promise<void> {
  assert.equal(await parked(clock, "the bucket, burst spent"), refillMs);
  for (let k = 1; k <= 3; k++) {
    const n = reads();
    clock.advance(refillMs - 1);
    assert.equal(clock.waiting().length, 1, "not a millisecond early");
    clock.advance(1);
    assert.equal(clock.waiting().length, 0);
    await waitFor(() => reads() === n + 1 && clock.waiting().length === 1, {
      what: `one more list read, then a wait (round ${k}; ${reads() - n} reads so far)`,
      timeoutMs: 8000,
    });
    assert.equal(clock.waiting()[0], refillMs, "a token's worth of wait again");
  }
}

describe("provider pacing (injected clock)", { timeout: 60_000 }, () => {
  it("consul T17: a churning index gets one list read per refill", async (t) => {
    const clock = fakeClock();
    const { emu, c, start } = await setupConsul(t, {
      bucket: { burst: 2, refillMs: 250 },
      pacing: { clock },
      before: (emu) => emu.register({ id: "a1", name: "a", port: 9001, tags: TAGS }),
    });
    start();
    await waitFor(() => c.snapshots.length === 1, { what: "snapshot" });
    let i = 0;
    const churn = setInterval(() => emu.setCheck("a1", "passing", `output ${i++}`), 20);
    whenDone(t, () => clearInterval(churn));
    await oneReadPerRefill(clock, () => consulListReqs(emu).length, 250);
    clearInterval(churn);
    assert.equal(c.snapshots.length, 1, "check output churn changes no route");
  });

  it("consul T7: without an index header reads are paced by the bucket alone", async (t) => {
    const clock = fakeClock();
    const { emu, c, start } = await setupConsul(t, {
      bucket: { burst: 2, refillMs: 200 },
      pacing: { clock },
      before(emu) {
        emu.register({ id: "a1", name: "a", port: 9001, tags: TAGS });
        emu.fault({ kind: "no_index", path: "/v1/health/state/" });
      },
    });
    start();
    await waitFor(() => c.snapshots.length === 1, { what: "snapshot" });
    await oneReadPerRefill(clock, () => consulListReqs(emu).length, 200);
    assert.ok(consulListReqs(emu).every((r) => r.query.index === undefined));
    assert.equal(c.snapshots.length, 1);
  });

  it("consul T8: a 403 waits at least forbiddenMs before the next read", async (t) => {
    const clock = fakeClock();
    const { emu, start, p } = await setupConsul(t, {
      config: { token: "not-a-known-token" },
      pacing: { clock, forbiddenMs: 30_000 },
      before: (emu) => emu.acl({ enabled: true, tokens: { known: "all" } }),
    });
    start();
    await waitFor(() => p.status().lastError?.includes("ACL not found"), { what: "403 surfaced" });
    assert.equal(await parked(clock, "after the 403"), 30_000);
    assert.equal(consulListReqs(emu).length, 1);
    clock.advance(29_999);
    assert.equal(clock.waiting().length, 1, "still waiting a millisecond before 30 s");
    assert.equal(consulListReqs(emu).length, 1, "no retry within the least wait");
    clock.advance(1);
    await waitFor(() => consulListReqs(emu).length === 2, { what: "the retry after 30 s" });
    assert.equal(await parked(clock, "after the second 403"), 30_000);
    assert.equal(consulListReqs(emu).length, 2);
  });

  it("consul T13: a 400 (a namespace on CE) waits at least badRequestMs: no hot loop", async (t) => {
    const clock = fakeClock();
    const { emu, start, p } = await setupConsul(t, {
      config: { namespace: "team-a" },
      pacing: { clock, badRequestMs: 60_000 },
    });
    start();
    await waitFor(() => p.status().state === "failing", { what: "failing" });
    assert.equal(await parked(clock, "after the 400"), 60_000);
    assert.equal(consulListReqs(emu).length, 1);
    clock.advance(60_000);
    await waitFor(() => consulListReqs(emu).length === 2, {
      what: "one retry after the least wait",
    });
    assert.equal(await parked(clock, "after the second 400"), 60_000);
    assert.equal(consulListReqs(emu).length, 2);
  });

  it("nomad T17: churning registrations get one list read per refill", async (t) => {
    const clock = fakeClock();
    const { emu, c, start } = await setupNomad(t, {
      bucket: { burst: 2, refillMs: 250 },
      pacing: { clock },
      before: (emu) =>
        emu.register({ id: "a1", name: "api", address: "127.0.0.1", port: 9001, tags: TAGS }),
    });
    start();
    await waitFor(() => c.snapshots.length === 1, { what: "snapshot" });
    let i = 0;
    const churn = setInterval(() =>
      emu.register({
        id: `x${i % 3}`,
        name: `noise${i++ % 3}`,
        address: "127.0.0.9",
        port: 1,
        tags: ["x"],
      }), 20);
    whenDone(t, () => clearInterval(churn));
    await oneReadPerRefill(clock, () => nomadListReqs(emu).length, 250);
    clearInterval(churn);
    assert.equal(c.snapshots.length, 1);
  });

  it("nomad: a 403 (ACL token not found) waits at least forbiddenMs", async (t) => {
    const clock = fakeClock();
    const { emu, start, p } = await setupNomad(t, {
      config: { token: "nomad-secret-0042" },
      pacing: { clock, forbiddenMs: 30_000 },
      before: (emu) => emu.acl({ enabled: true, tokens: { other: "*" } }),
    });
    start();
    await waitFor(() => p.status().lastError, { what: "error" });
    assert.match(p.status().lastError!, /403 ACL token not found/);
    assert.equal(await parked(clock, "after the 403"), 30_000);
    assert.equal(nomadListReqs(emu).length, 1, "no retry before the 403 backoff");
    clock.advance(30_000);
    await waitFor(() => nomadListReqs(emu).length === 2, { what: "the retry after 30 s" });
  });
});

describe("the default token bucket", () => {
  it("never holds back four changes a second of two wake-ups each, but caps a churn at 10/s", async () => {
    const { createTokenBucket } = await import("../../src/providers/backoff.ts");
    let now = 0;
    const bucket = createTokenBucket({ now: () => now });
    // The churn benchmark's pace: a change every 250 ms, a pool change being two registrations
    // a few ms apart (two rounds). With one token per 200 ms this ran into debt after ~30 s and
    // each later round waited up to 200 ms for its token (p99 173-213 ms at 5,000 services).
    const waits: number[] = [];
    for (let i = 0; i < 400; i++) {
      now = i * 250;
      waits.push(bucket.take());
      now += 5;
      waits.push(bucket.take());
    }
    assert.deepEqual(waits.filter((w) => w > 0), [], "no round waits for a token");
    // A churning index (a wake-up every ms) still gets at most one round per 100 ms after the
    // burst of 10.
    const churn = createTokenBucket({ now: () => now });
    let t = now;
    let rounds = 0;
    for (const end = now + 10_000; t < end; rounds++) {
      now = t;
      t += Math.max(1, churn.take());
    }
    assert.ok(rounds <= 10 + 100 + 1, `${rounds} rounds in 10 s`);
    assert.ok(rounds >= 100, `${rounds} rounds in 10 s`);
  });
});
