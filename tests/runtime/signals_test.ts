// onSignal(): handlers run on a real signal and the returned function removes them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { rt } from "./_helpers.ts";
import { waitFor } from "../_support/wait.ts";

describe("onSignal()", () => {
  it(
    "runs the handler on SIGHUP and removes it with the returned function",
    { timeout: 5000 },
    async () => {
      let kept = 0;
      let removed = 0;
      // `kept` stays registered throughout, so the signal never hits the default action.
      const offKept = rt.onSignal("SIGHUP", () => kept++);
      const offRemoved = rt.onSignal("SIGHUP", () => removed++);
      try {
        process.kill(process.pid, "SIGHUP");
        assert.ok(
          await waitFor(() => kept === 1 && removed === 1, { timeoutMs: 2000 }),
          "both handlers ran",
        );
        offRemoved();
        process.kill(process.pid, "SIGHUP");
        assert.ok(
          await waitFor(() => kept === 2, { timeoutMs: 2000 }),
          "the kept handler ran again",
        );
        assert.equal(removed, 1, "the removed handler did not run");
      } finally {
        offKept();
        offRemoved();
      }
    },
  );
});
