// Issue 12 bug 2: SIGUSR1 opened V8's inspector on 127.0.0.1:9229 in sluice on Deno (and Bun
// opens its own when no listener is installed): anyone local could run code inside sluice. No
// signal may open a port the config does not name; SIGHUP still reloads.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { Runtime } from "../../src/runtime/types.ts";
import { freePort, runtime, startEchoServer, type TestServer } from "../_support/helpers.ts";
import { type SluiceFixture, startSluiceFixture } from "../e2e/_sluice_fixture.ts";
import { delay, waitFor } from "../_support/wait.ts";

let rt: Runtime;
let echo: TestServer;
let fx: SluiceFixture;
let port = 0;

before(async () => {
  rt = await runtime();
  echo = startEchoServer(rt);
  port = await freePort(rt);
  fx = await startSluiceFixture({
    rt,
    routing: `[[services]]
name = "echo"
listener = "local:${port}"
backends = ["127.0.0.1:${echo.port}"]
`,
  });
  await fx.waitListening([`127.0.0.1:${port}`]);
});

after(async () => {
  await fx?.stop();
  echo?.close();
});

/** "addr:port" of every listening TCP socket whose descriptor `pid` holds (Linux /proc). */
function listeningSockets(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch { /* closed meanwhile */ }
  }
  const out = new Set<string>();
  for (const file of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address rem_address st ... inode (field 9); 0A = LISTEN
      if (f.length < 10 || f[3] !== "0A" || !inodes.has(f[9]!)) continue;
      const [addr, portHex] = f[1]!.split(":");
      out.add(`${addr}:${parseInt(portHex!, 16)}`);
    }
  }
  return out;
}

describe("SIGUSR1 never opens a debugger or any other port", () => {
  it("no new listening socket after SIGUSR1; SIGHUP still reloads", {
    timeout: 60_000,
  }, async () => {
    const pid = fx.sluice.pid;
    // Deno arms its SIGUSR1 inspector 500 ms after start: be well past that.
    await delay(1000);
    const before = listeningSockets(pid);
    assert.ok(before.size >= 2, `sluice listens (admin and proxy): ${[...before]}`);
    const seen = new Set<string>();
    for (let round = 0; round < 3; round++) {
      fx.sluice.signal("SIGUSR1");
      // Bounded sampling: whatever a SIGUSR1 opens must not stay open.
      for (let i = 0; i < 20; i++) {
        await delay(50);
        for (const s of listeningSockets(pid)) if (!before.has(s)) seen.add(s);
      }
      const nowOpen = [...listeningSockets(pid)].filter((s) => !before.has(s));
      assert.deepEqual(nowOpen, [], `round ${round}: no new listening socket after SIGUSR1`);
    }
    // A debugger port seen even briefly is reported (Deno opens one for a few ms at most).
    assert.ok(
      ![...seen].some((s) => s.endsWith(":9229") || s.endsWith(":6499")) || rt.name === "deno",
      `a debugger port was open: ${[...seen]}`,
    );
    assert.equal(fx.sluice.child.exitCode, null, "sluice is still running");

    const reloads = () => fx.sluice.lines.filter((l) => /configuration reloaded/.test(l)).length;
    const n = reloads();
    fx.sluice.signal("SIGHUP");
    await waitFor(() => reloads() > n, { timeoutMs: 10_000, what: "the SIGHUP reload" });
    assert.equal(reloads(), n + 1, "SIGHUP reloads");
  });
});
