// The crash guard turns an unhandled rejection or an uncaught exception into one error line
// instead of an exit (in a child process: test runners intercept both in their own).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { ROOT, runtime } from "../_support/helpers.ts";

describe("crash guard", () => {
  it("logs an unhandled rejection and an uncaught exception, and the process goes on", async () => {
    const rt = await runtime();
    const child = join(ROOT, "tests/_support/crash_guard_child.ts");
    const args = rt.name === "deno" ? ["run", "-A", child] : [child];
    const r = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const entries = r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
      JSON.parse(l) as Record<string, unknown>
    );
    const rejection = entries.find((e) => String(e.error).includes("a rejected bug"));
    const exception = entries.find((e) => String(e.error).includes("a thrown bug"));
    assert.equal(rejection?.level, "error");
    assert.match(String(rejection?.msg), /unhandled rejection.*keeps running/);
    assert.equal(exception?.level, "error");
    assert.match(String(exception?.msg), /uncaught exception.*keeps running/);
    assert.match(r.stdout, /still serving/);
  });
});
