// Issue 12, bug 8, end to end: when sluice runs out of descriptors, a failed dial is local
// resource exhaustion, not the backend's fault. The backend (up all along) is neither blamed
// (no "backend connect failed", no ECONNREFUSED) nor ejected; the failure has its own log
// line and counter; once the load is gone, new connections are served by the same backend.
//
// The dial must be what fails, not the accept (which fails first when clients pile up): the
// "armed" clients are accepted while descriptors are free, on a listener that waits for a
// PROXY header before it dials (accept_proxy_protocol). Then the process's descriptor limit is
// lowered (prlimit --pid, soft limit only) and filled by "filler" clients of another listener;
// then the armed clients send their header, and sluice dials with no descriptor left.
// A second case checks the runtime adapter alone (both of Bun's dial paths, and a real refusal).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import type { Conn, Runtime } from "../../src/runtime/types.ts";
import { bytes, freePort, runtime, startEchoServer, type TestServer } from "../_support/helpers.ts";
import { delay, waitFor, within } from "../_support/wait.ts";
import { LO4, metricValue, readExactly, service, type Sluice, startSluice } from "./_support.ts";

const ARMED = 12;
/** Descriptors left to the process once the armed clients are in; the fillers take them. */
const HEADROOM = 40;
const MAX_FILLERS = 200;
const LOCAL_MSG = "local resource exhausted: connection closed";

const hasPrlimit = spawnSync("prlimit", ["--version"], { timeout: 10_000 }).status === 0;
const skip = hasPrlimit ? false : "prlimit (util-linux) is not installed";
if (skip) console.error(`SKIP fd_exhaustion_test: ${skip}`);

let rt: Runtime;
before(async () => {
  rt = await runtime();
});

/** Sets the soft descriptor limit of a running process (the hard one stays as it is). */
function setSoftNofile(pid: number, soft: number): void {
  const r = spawnSync("prlimit", ["--pid", String(pid), `--nofile=${soft}:`], {
    timeout: 10_000,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`prlimit failed: ${r.stderr}`);
}

function softNofile(pid: number): number {
  const r = spawnSync("prlimit", [
    "--pid",
    String(pid),
    "--nofile",
    "--raw",
    "--noheadings",
    "-o",
    "SOFT",
  ], {
    timeout: 10_000,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`prlimit failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

function fdNumbers(pid: number): number[] {
  return readdirSync(`/proc/${pid}/fd`).map(Number).filter((n) => Number.isInteger(n));
}

function jsonLogs(s: Sluice): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const l of s.proc.lines) {
    if (!l.startsWith("{")) continue;
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch { /* a line cut between two reads, or not a log line */ }
  }
  return out;
}

function proxyHeader(): Uint8Array {
  return bytes("PROXY TCP4 192.0.2.7 127.0.0.1 40000 5000\r\n");
}

/** Descriptor numbers below `limit` the process does not hold (what it can still open). */
function freeBelow(pid: number, limit: number): number {
  const held = new Set(fdNumbers(pid));
  let free = 0;
  for (let n = 0; n < limit; n++) if (!held.has(n)) free++;
  return free;
}

/** The soft limit that leaves the process exactly `headroom` descriptors to open. */
function limitWithHeadroom(pid: number, headroom: number): number {
  const held = new Set(fdNumbers(pid));
  let free = 0;
  for (let n = 0; n < 1_000_000; n++) {
    if (held.has(n)) continue;
    if (free === headroom) return n;
    free++;
  }
  throw new Error("no limit found");
}

/** How an armed client ended: closed by sluice, or served (its bytes echoed). */
async function outcome(c: Conn): Promise<"closed" | "served" | "open"> {
  const signal = AbortSignal.timeout(30_000);
  try {
    const d = await c.read({ signal });
    if (d === null) return "closed";
    return "served";
  } catch {
    return signal.aborted ? "open" : "closed";
  }
}

describe("descriptor exhaustion, end to end", { skip }, () => {
  let echo: TestServer;
  let s: Sluice;
  let armedPort = 0;
  let fillPort = 0;

  before(async () => {
    echo = startEchoServer(rt);
    armedPort = await freePort(rt);
    fillPort = await freePort(rt);
    s = await startSluice({
      rt,
      routing: service(
        "armed",
        armedPort,
        [`${LO4}:${echo.port}`],
        `accept_proxy_protocol = true\ntrusted_proxies = ["127.0.0.0/8"]\n`,
      ) + service("filler", fillPort, [`${LO4}:${echo.port}`]),
      config: `\n[log]\nformat = "json"\naccess = false\n`,
    });
    await s.waitListening([`${LO4}:${armedPort}`, `${LO4}:${fillPort}`]);
  });
  after(async () => {
    await s?.stop();
    echo?.close();
  });

  it("a dial without descriptors blames and ejects no backend; served after the load", {
    timeout: 150_000,
  }, async () => {
    const pid = s.proc.pid;
    const armed: Conn[] = [];
    const fillers: Conn[] = [];
    const original = softNofile(pid);
    try {
      // Accepted while descriptors are free; sluice waits for their PROXY header.
      for (let i = 0; i < ARMED; i++) {
        armed.push(await rt.connect({ host: LO4, port: armedPort, timeoutMs: 10_000 }));
      }
      await waitFor(
        async () => (await s.listener(`${LO4}:${armedPort}`)).active_connections === ARMED,
        { what: "the armed clients accepted", timeoutMs: 20_000, intervalMs: 100 },
      );

      // Lower the limit, then take what is left with fillers (each: an accept and a dial).
      // Once none is left, an accepted filler's dial fails and frees its client's descriptor,
      // which the next accept takes: at most one is free now and then.
      const limit = limitWithHeadroom(pid, HEADROOM);
      setSoftNofile(pid, limit);
      for (let i = 0; i < MAX_FILLERS && freeBelow(pid, limit) > 1; i++) {
        try {
          fillers.push(await rt.connect({ host: LO4, port: fillPort, timeoutMs: 3000 }));
        } catch { /* the backlog is full */ }
        if (i % 10 === 9) await delay(50);
      }
      // A few more wait in the backlog, so that a descriptor freed is taken again at once.
      for (let i = 0; i < 8; i++) {
        try {
          fillers.push(await rt.connect({ host: LO4, port: fillPort, timeoutMs: 3000 }));
        } catch { /* the backlog is full */ }
      }
      await waitFor(() => freeBelow(pid, limit) <= 1, {
        what: "sluice to run out of descriptors",
        timeoutMs: 30_000,
        intervalMs: 50,
      });

      // Now the armed clients make sluice dial, with no descriptor to dial with.
      const header = proxyHeader();
      await Promise.all(armed.map((c) => c.write(header).catch(() => {})));
      await Promise.all(armed.map((c) => c.write(bytes("ping")).catch(() => {})));
      const armedLocal = () =>
        jsonLogs(s).filter((l) => l.msg === LOCAL_MSG && l.listener === `${LO4}:${armedPort}`);
      await waitFor(() => armedLocal().length > 0, {
        what: `"${LOCAL_MSG}" for the armed listener`,
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      // Every armed client ends: closed for want of descriptors or, when one was freed in
      // between, served.
      const ends = await within(
        Promise.all(armed.map(outcome)),
        40_000,
        "the armed clients to end",
      );
      assert.ok(!ends.includes("open"), `no armed client is left hanging: ${ends}`);
      assert.ok(ends.includes("closed"), `some armed client was closed: ${ends}`);

      const logs = jsonLogs(s);
      for (const l of logs.filter((l) => l.msg === LOCAL_MSG)) {
        assert.match(String(l.errno), /^(EMFILE|ENFILE)$/, JSON.stringify(l));
        assert.equal(l.backend, `${LO4}:${echo.port}`);
      }
      assert.deepEqual(logs.filter((l) => l.msg === "backend connect failed"), [], "no blame");
      assert.deepEqual(
        logs.filter((l) => l.msg === "backend ejected after consecutive connect failures"),
        [],
        "no ejection",
      );
      assert.deepEqual(s.proc.lines.filter((l) => /ECONNREFUSED/.test(l)), [], "no refusal");
    } finally {
      // The load goes away.
      for (const c of [...armed, ...fillers]) c.close();
    }
    try {
      // Served again at the same (still lowered) limit, by the backend that was never ejected.
      const served = await waitFor(async () => {
        let c: Conn | undefined;
        try {
          c = await rt.connect({ host: LO4, port: armedPort, timeoutMs: 2000 });
          await c.write(proxyHeader());
          await c.write(bytes("again"));
          return (await readExactly(c, 5, 2000)) === "again";
        } catch {
          return false;
        } finally {
          c?.close();
        }
      }, { what: "a connection served after the load", timeoutMs: 40_000, intervalMs: 200 });
      assert.ok(served);
      const routing = await waitFor(() => s.listeners(), {
        what: "the admin API after the load",
        timeoutMs: 20_000,
        intervalMs: 200,
      });
      for (const l of routing) {
        for (const b of l.backends as unknown as { address: string; ejected: boolean }[]) {
          assert.equal(b.ejected, false, `${l.address} -> ${b.address} is not ejected`);
        }
      }
      const b = routing.find((l) => l.address === `${LO4}:${armedPort}`)!.backends[0]!;
      assert.equal(b.connect_failures, 0, "no connect failure counted");
      const metrics = await s.metrics();
      const counted = ["EMFILE", "ENFILE"].reduce(
        (n, e) =>
          n + (metricValue(metrics, "sluice_local_resource_errors_total", `errno="${e}"`) ?? 0),
        0,
      );
      assert.ok(
        counted >= 1,
        `the counter: ${
          metrics.split("\n").filter((x) => x.includes("local_resource")).join("\n")
        }`,
      );
    } finally {
      setSoftNofile(pid, original);
    }
  });
});

describe("descriptor exhaustion, the runtime adapter's dial", () => {
  it("reports ERESOURCE on every dial path; a real refusal stays ECONNREFUSED", {
    timeout: 60_000,
  }, async () => {
    const script = join(import.meta.dirname ?? ".", "_dial_fd_child.ts");
    const cmd = rt.name === "deno"
      ? `exec "${process.execPath}" run -A --unstable-net "${script}"`
      : `exec "${process.execPath}" "${script}"`;
    const child = spawn("bash", ["-c", `ulimit -n 128 && ${cmd}`], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d) => (out += String(d)));
    child.stderr!.on("data", (d) => (out += String(d)));
    try {
      await within(
        new Promise<void>((resolve) => child.on("exit", () => resolve())),
        40_000,
        `the child:\n${out}`,
      );
      const m = /^RESULT (.*)$/m.exec(out);
      assert.ok(m, `the child's result:\n${out}`);
      const r = JSON.parse(m[1]!) as {
        firstExhausted: { stop: string; result: string };
        free: string;
        againExhausted: { stop: string; result: string };
        refused: string;
      };
      assert.equal(r.firstExhausted.stop, "EMFILE");
      assert.match(r.firstExhausted.result, /^ERESOURCE: /);
      assert.equal(r.free, "ok");
      assert.equal(r.againExhausted.stop, "EMFILE");
      assert.match(r.againExhausted.result, /^ERESOURCE: /);
      assert.match(r.refused, /^ECONNREFUSED: /);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
