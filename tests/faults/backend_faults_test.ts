// Backend faults (issue 12, fault suite): a backend killed mid-stream, one that resets, one
// that never reads, and one that never accepts (its listen queue full, so SYNs go unanswered
// the way a blackholed host's do). In every case the client is closed within a bound, the
// connection leaves sluice's books, nothing hangs, and the next connection through a good path
// is served.
//
// Assertions stop short of what bugs 1 and 14 of the issue are about (Bun's phantom
// connection when the backend resets while writes are queued; Deno's FIN where a reset is
// due): here the client's end may be a FIN or a reset, and the never-read case is ended by
// idle_timeout rather than by a reset with writes queued. Those bugs' own regression tests
// live with their fixes.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import type { Conn, Runtime } from "../../src/runtime/types.ts";
import {
  bytes,
  freePort,
  runtime,
  startEchoServer,
  startServer,
  type TestServer,
} from "../_support/helpers.ts";
import { signalChild } from "../_support/signal_child.ts";
import {
  ending,
  type Helper,
  LO4,
  procStats,
  readExactly,
  service,
  skipUnlessPython,
  type Sluice,
  startNeverAccepting,
  startSluice,
  writeWithin,
} from "./_support.ts";
import { delay, waitFor, within } from "../_support/wait.ts";

let rt: Runtime;

/** The streaming backend of _stream_child.ts in its own process, and its port. */
async function startStreamChild(): Promise<{ child: ChildProcess; port: number }> {
  const file = join(import.meta.dirname ?? ".", "_stream_child.ts");
  const argv = rt.name === "deno" ? ["run", "-A", file] : [file];
  const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "inherit"] });
  const port = await within(
    new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout?.on("data", (b) => {
        out += String(b);
        if (out.includes("\n")) resolve(Number(out.trim()));
      });
      child.on("exit", () => reject(new Error("the stream child exited")));
    }),
    20_000,
    "the stream child's port",
  );
  return { child, port };
}

async function echoes(c: Conn, text: string): Promise<void> {
  await c.write(bytes(text));
  assert.equal(await readExactly(c, text.length), text);
}

describe("backend faults", () => {
  let s: Sluice;
  let echo: TestServer, resetter: TestServer, deaf: TestServer;
  let streamer: { child: ChildProcess; port: number };
  let hole: Helper | undefined;
  const port = { killed: 0, reset: 0, deaf: 0, hole: 0, holeFailover: 0 };
  const deafConns: Conn[] = [];

  before(async () => {
    rt = await runtime();
    echo = startEchoServer(rt);
    // Resets: never reads; once the client's bytes sit unread, close() makes the kernel send RST.
    resetter = startServer(rt, async (c) => {
      await c.write(bytes("hello"));
      await delay(300);
      c.close();
    });
    // Never reads and never closes (until the test ends).
    deaf = startServer(rt, (c) => {
      deafConns.push(c);
    });
    streamer = await startStreamChild();
    hole = await startNeverAccepting();
    for (const k of Object.keys(port) as (keyof typeof port)[]) port[k] = await freePort(rt);
    const holeAddr = `${LO4}:${hole?.port ?? 9}`;
    const routing = [
      service("killed", port.killed, [
        `${LO4}:${streamer.port}`,
        `{ address = "${LO4}:${echo.port}", tier = 1 }`,
      ], "connect_attempts = 2"),
      service("reset", port.reset, [`${LO4}:${resetter.port}`]),
      service("deaf", port.deaf, [`${LO4}:${deaf.port}`], `idle_timeout = "2s"`),
      service("hole", port.hole, [holeAddr], `connect_timeout = "1s"\nconnect_attempts = 1`),
      service("hole-failover", port.holeFailover, [
        holeAddr,
        `{ address = "${LO4}:${echo.port}", tier = 1 }`,
      ], `connect_timeout = "1s"\nconnect_attempts = 2`),
    ].join("");
    s = await startSluice({ rt, routing });
    await s.waitListening(Object.values(port).map((p) => `${LO4}:${p}`));
  });
  after(async () => {
    await s?.stop();
    for (const c of deafConns) c.close();
    signalChild(streamer?.child, "SIGKILL");
    hole?.kill();
    echo?.close();
    resetter?.close();
    deaf?.close();
  });

  it("a backend killed mid-stream: the client is closed, the next connection fails over", {
    timeout: 60_000,
  }, async () => {
    const c = await rt.connect({ host: LO4, port: port.killed, timeoutMs: 10_000 });
    try {
      // The stream is flowing.
      let got = 0;
      const signal = AbortSignal.timeout(15_000);
      while (got < 256 * 1024) {
        const chunk = await c.read({ signal });
        assert.ok(chunk, "the backend streams");
        got += chunk.length;
      }
      signalChild(streamer.child, "SIGKILL");
      const e = await ending(c, 15_000);
      assert.notEqual(e.kind, "open", "the client is closed after the backend dies");
    } finally {
      c.close();
    }
    await s.waitIdle(`${LO4}:${port.killed}`);
    // The dead backend refuses; the next attempt goes to tier 1 and is served.
    const next = await rt.connect({ host: LO4, port: port.killed, timeoutMs: 10_000 });
    try {
      await echoes(next, "after the kill");
    } finally {
      next.close();
    }
  });

  it("a backend that resets: the client is closed and the listener goes on", {
    timeout: 60_000,
  }, async () => {
    for (let round = 0; round < 3; round++) {
      const c = await rt.connect({ host: LO4, port: port.reset, timeoutMs: 10_000 });
      try {
        await c.write(new Uint8Array(64 * 1024).fill(0x62));
        const e = await ending(c, 15_000);
        assert.notEqual(e.kind, "open", `round ${round}: the client is closed`);
      } finally {
        c.close();
      }
    }
    await s.waitIdle(`${LO4}:${port.reset}`);
    assert.equal((await s.listener(`${LO4}:${port.reset}`)).state, "listening");
  });

  it("a backend that never reads: the client is held back, memory bounded, idle_timeout ends it", {
    timeout: 90_000,
  }, async () => {
    const before = procStats(s.proc.pid);
    const c = await rt.connect({ host: LO4, port: port.deaf, timeoutMs: 10_000 });
    const chunk = new Uint8Array(256 * 1024).fill(0x63);
    let written = 0;
    const CAP = 512 * 1024 * 1024;
    try {
      // Write until a write stays pending (backpressure reached the client) or the cap.
      while (written < CAP) {
        if (!(await writeWithin(c, chunk, 1500).catch(() => false))) break;
        written += chunk.length;
      }
      const during = procStats(s.proc.pid);
      assert.ok(written < 128 * 1024 * 1024, `sluice stopped taking bytes (took ${written})`);
      assert.ok(
        during.rssKiB - before.rssKiB < 128 * 1024,
        `sluice's RSS grew by ${during.rssKiB - before.rssKiB} KiB only`,
      );
      // Nothing moves either way now, so idle_timeout (2 s) closes the connection.
      const e = await ending(c, 20_000);
      assert.notEqual(e.kind, "open", "closed by idle_timeout");
    } finally {
      c.close();
    }
    await s.waitIdle(`${LO4}:${port.deaf}`);
  });

  it("a backend that never accepts (blackholed): connect_timeout ends the attempt", {
    timeout: 60_000,
    skip: skipUnlessPython(),
  }, async () => {
    assert.ok(hole, "python3 runs the never-accepting listener");
    // Fill its accept queue (backlog 0 holds one), so sluice's SYNs go unanswered.
    const fillers: Conn[] = [];
    for (let i = 0; i < 3; i++) {
      try {
        fillers.push(await rt.connect({ host: LO4, port: hole.port, timeoutMs: 1000 }));
      } catch { /* the queue is full: what we want */ }
    }
    try {
      const failuresBefore = (await s.listener(`${LO4}:${port.hole}`)).backends[0]!
        .connect_failures;
      const c = await rt.connect({ host: LO4, port: port.hole, timeoutMs: 10_000 });
      try {
        await c.write(bytes("anyone?"));
        const e = await ending(c, 15_000);
        assert.notEqual(e.kind, "open", "the client is closed after connect_timeout");
        assert.equal(e.bytes, 0);
      } finally {
        c.close();
      }
      await waitFor(
        async () =>
          (await s.listener(`${LO4}:${port.hole}`)).backends[0]!.connect_failures >
            failuresBefore,
        { timeoutMs: 10_000, what: "the failed connect to be counted" },
      );
      await s.waitIdle(`${LO4}:${port.hole}`);

      // With a second tier, the same timeout moves the connection on and it is served.
      const f = await rt.connect({ host: LO4, port: port.holeFailover, timeoutMs: 10_000 });
      try {
        await echoes(f, "served after the blackhole");
      } finally {
        f.close();
      }
    } finally {
      for (const c of fillers) c.close();
    }
  });
});
