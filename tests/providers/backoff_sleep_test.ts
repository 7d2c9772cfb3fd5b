// WALL_CLOCK.sleep(): the providers' pause between polls, on the one deadline idiom (net/abortable.ts).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { WALL_CLOCK } from "../../src/providers/backoff.ts";

const sleep = (ms: number, signal: AbortSignal = new AbortController().signal) =>
  WALL_CLOCK.sleep(ms, signal);

/** `p`, or a rejection after 10 s: a pause that never ends fails the test instead of hanging. */
async function bounded(p: Promise<void>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("sleep() did not resolve within 10 s")), 10_000);
  });
  try {
    await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

describe("sleep()", () => {
  it("resolves after its time when nothing aborts it", async () => {
    const ac = new AbortController();
    await bounded(sleep(1, ac.signal));
    assert.equal(ac.signal.aborted, false);
    await bounded(sleep(1));
  });

  it("resolves (never rejects) as soon as the signal aborts, however long the pause", async () => {
    const ac = new AbortController();
    const p = sleep(3_600_000, ac.signal);
    ac.abort(new Error("stop"));
    await bounded(p);
  });

  it("resolves at once for a signal already aborted", async () => {
    await bounded(sleep(3_600_000, AbortSignal.abort()));
  });
});
