// Resources after load (issue 12, fault suite): sluice's open descriptors and resident memory
// (read from /proc/<pid> of the child process) come back to near their baseline after many
// short connections and many failed dials to a closed port.
//
// The attack used 20,000 connections; this case runs 5,000 short connections and 2,000
// failed dials (50 at a time) to fit the suite's time budget on a loaded 2-core machine. A leak
// of one descriptor per connection, or of a few KiB of memory per connection, still shows.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Runtime } from "../../src/runtime/types.ts";
import { bytes, freePort, runtime, startEchoServer, type TestServer } from "../_support/helpers.ts";
import { ending, LO4, procStats, service, type Sluice, startSluice } from "./_support.ts";
import { delay, waitFor, within } from "../_support/wait.ts";

const SHORT = 5_000;
const FAILED = 2_000;
const PARALLEL = 50;
/** Descriptors sluice may hold above its baseline afterwards (timers, a pooled socket, ...). */
const FD_SLACK = 10;
/** Resident memory sluice may keep above its baseline afterwards (a JS heap grows lazily). */
const RSS_SLACK_KIB = 80 * 1024;

let rt: Runtime;

/** Runs `job` `n` times, `parallel` at a time; returns how many threw. */
async function pool(n: number, parallel: number, job: (i: number) => Promise<void>) {
  let next = 0;
  let failed = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < n) {
      const i = next++;
      await job(i).catch(() => failed++);
    }
  }));
  return failed;
}

describe("descriptors and memory after load", () => {
  let s: Sluice;
  let echo: TestServer;
  let live = 0, dead = 0;

  before(async () => {
    rt = await runtime();
    echo = startEchoServer(rt);
    live = await freePort(rt);
    dead = await freePort(rt);
    const closed = await freePort(rt); // nothing listens there
    s = await startSluice({
      rt,
      routing: service("live", live, [`${LO4}:${echo.port}`]) +
        service("dead", dead, [`${LO4}:${closed}`], `connect_timeout = "2s"\nconnect_attempts = 1`),
      config: `\n[log]\naccess = false\n`,
    });
    await s.waitListening([`${LO4}:${live}`, `${LO4}:${dead}`]);
  });
  after(async () => {
    await s?.stop();
    echo?.close();
  });

  async function shortConnection(): Promise<void> {
    const c = await rt.connect({ host: LO4, port: live, timeoutMs: 10_000 });
    try {
      await c.write(bytes("x"));
      const r = await c.read({ signal: AbortSignal.timeout(10_000) });
      if (r === null || r[0] !== 0x78) throw new Error("no echo");
    } finally {
      c.close();
    }
  }

  async function failedDial(): Promise<void> {
    const c = await rt.connect({ host: LO4, port: dead, timeoutMs: 10_000 });
    try {
      const e = await ending(c, 10_000);
      if (e.kind === "open") throw new Error("left open");
    } finally {
      c.close();
    }
  }

  async function settled(): Promise<{ fds: number; rssKiB: number }> {
    await s.waitIdle(`${LO4}:${live}`);
    await s.waitIdle(`${LO4}:${dead}`);
    await delay(500);
    return procStats(s.proc.pid);
  }

  it(`${SHORT} short connections and ${FAILED} failed dials leave no descriptor behind`, {
    timeout: 170_000,
  }, async () => {
    // Warm-up: first connections allocate pools, JIT code and buffers that stay.
    assert.equal(await pool(300, PARALLEL, shortConnection), 0);
    assert.equal(await pool(100, PARALLEL, failedDial), 0);
    const base = await settled();

    const shortFailed = await within(
      pool(SHORT, PARALLEL, shortConnection),
      120_000,
      "the short connections",
    );
    assert.equal(shortFailed, 0, "every short connection was echoed");
    const dialFailed = await within(
      pool(FAILED, PARALLEL, failedDial),
      120_000,
      "the failed dials",
    );
    assert.equal(dialFailed, 0, "every client of a failed dial was closed");

    const l = await s.listener(`${LO4}:${live}`);
    assert.ok(l.total_connections >= 300 + SHORT);
    const endStats = await waitFor(() => {
      const now = procStats(s.proc.pid);
      return now.fds <= base.fds + FD_SLACK ? now : undefined;
    }, {
      timeoutMs: 20_000,
      intervalMs: 250,
      what: `descriptors back near ${base.fds} (now ${procStats(s.proc.pid).fds})`,
    });
    console.log(
      `[faults] ${rt.name}: fds ${base.fds} -> ${endStats.fds}, RSS ${base.rssKiB} -> ${endStats.rssKiB} KiB`,
    );
    assert.ok(
      endStats.rssKiB <= base.rssKiB + RSS_SLACK_KIB,
      `RSS ${base.rssKiB} KiB -> ${endStats.rssKiB} KiB`,
    );
    // And sluice still serves.
    await shortConnection();
  });
});
