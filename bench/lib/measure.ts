// One measurement of one target: connection rate, ping-pong, bulk throughput, idle RSS.
// Load comes from the C generator (or iperf3) pinned to the generator CPU; around each run we
// read the proxy's CPU time and every CPU's busy time, so the output shows who was saturated.
import { run, start } from "./procs.ts";
import { cpuBusy, cpuTicks, cpuTimes, rssKiB, sleep } from "./sys.ts";
import type { Target } from "./targets.ts";

export interface Tools {
  readonly loadgen: string;
  readonly iperf3: string | undefined;
  /** CPU list for the load generator and the backend. */
  readonly genCpus: string | undefined;
}

export interface Timing {
  readonly secs: number;
  readonly warm: number;
}

export interface Measured {
  readonly values: Record<string, number>;
  /** The proxy's CPU use over the run, in percent of one core (all its processes). */
  readonly proxyCpu?: number;
  /** Busy percent per CPU over the run. */
  readonly cpus?: Record<string, number>;
}

const CONC = 50;
const MSG = 100;

function pinned(tools: Tools) {
  return tools.genCpus !== undefined ? { cpus: tools.genCpus } : {};
}

function alive(pid: number): boolean {
  return Number.isFinite(cpuTicks(pid));
}

async function accounted(
  t: Target,
  fn: () => Promise<Record<string, number>>,
): Promise<Measured> {
  if (t.pid && !alive(t.pid)) throw new Error(`${t.name} (pid ${t.pid}) is gone`);
  const pids = () => (t.pid ? [t.pid, ...t.extraPids()] : []);
  const ticks = () => pids().reduce((a, p) => a + (cpuTicks(p) || 0), 0);
  const c0 = cpuTimes();
  const k0 = ticks();
  const w0 = performance.now();
  const values = await fn();
  const secs = (performance.now() - w0) / 1000;
  const k1 = ticks();
  const c1 = cpuTimes();
  if (t.pid && !alive(t.pid)) throw new Error(`${t.name} (pid ${t.pid}) is gone`);
  return {
    values,
    ...(t.pid ? { proxyCpu: Math.round((k1 - k0) / secs) } : {}), // ticks are 1/100 s
    cpus: cpuBusy(c0, c1),
  };
}

function parseLine(out: string): Record<string, number> {
  const line = out.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`load generator printed no JSON: ${out.slice(0, 300)}`);
  }
}

const timeout = (d: Timing) => (d.secs + d.warm) * 1000 + 30_000;

/** Connections per second: connect, 100 bytes echoed, close; 50 at once. */
export function conn(t: Target, tools: Tools, d: Timing): Promise<Measured> {
  return accounted(t, async () => {
    const r = parseLine(
      await run("loadgen conn", tools.loadgen, [
        "conn",
        "127.0.0.1",
        String(t.echoPort),
        String(CONC),
        String(d.secs),
        String(d.warm),
        String(MSG),
      ], { ...pinned(tools), timeoutMs: timeout(d) }),
    );
    return {
      conn_rate: r.rate!,
      conn_p50_us: r.p50_us!,
      conn_p99_us: r.p99_us!,
      conn_errors: r.errors!,
    };
  });
}

/** Ping-pong messages per second over 50 persistent connections, with latency percentiles. */
export function pingpong(t: Target, tools: Tools, d: Timing): Promise<Measured> {
  return accounted(t, async () => {
    const r = parseLine(
      await run("loadgen pingpong", tools.loadgen, [
        "pingpong",
        "127.0.0.1",
        String(t.echoPort),
        String(CONC),
        String(d.secs),
        String(d.warm),
        String(MSG),
      ], { ...pinned(tools), timeoutMs: timeout(d) }),
    );
    return { pp_rate: r.rate!, pp_p50_us: r.p50_us!, pp_p99_us: r.p99_us!, pp_errors: r.errors! };
  });
}

/** Bulk throughput in Gbit/s over `streams` streams (iperf3 when installed). */
export function bulk(t: Target, tools: Tools, d: Timing, streams: number): Promise<Measured> {
  const key = `bulk${streams}_gbps`;
  return accounted(t, async () => {
    if (tools.iperf3) {
      const out = await run("iperf3 -c", tools.iperf3, [
        "-c",
        "127.0.0.1",
        "-p",
        String(t.bulkPort),
        "-t",
        String(Math.max(1, Math.round(d.secs))),
        "-O",
        String(Math.max(0, Math.ceil(d.warm))),
        "-P",
        String(streams),
        "-J",
      ], { ...pinned(tools), timeoutMs: timeout(d) + 10_000 });
      const j = JSON.parse(out);
      const bps = j?.end?.sum_received?.bits_per_second;
      if (typeof bps !== "number") {
        throw new Error(`iperf3 gave no result: ${j?.error ?? out.slice(0, 300)}`);
      }
      return { [key]: bps / 1e9 };
    }
    const r = parseLine(
      await run("loadgen bulk", tools.loadgen, [
        "bulk",
        "127.0.0.1",
        String(t.bulkPort),
        String(streams),
        String(d.secs),
        String(d.warm),
      ], { ...pinned(tools), timeoutMs: timeout(d) }),
    );
    return { [key]: r.gbps! };
  });
}

/**
 * RSS per idle connection: the proxy's VmRSS before and after `count` connections are open
 * through it (each has echoed one byte, so both sides are established, then stays silent).
 */
export async function idle(
  t: Target,
  tools: Tools,
  count: number,
  tag: string,
): Promise<Measured> {
  if (!t.pid) throw new Error("idle: the direct path has no proxy process");
  await sleep(500);
  const before = rssKiB(t.pid);
  const holder = start("loadgen idle", tools.loadgen, [
    "idle",
    "127.0.0.1",
    String(t.echoPort),
    String(count),
    "60",
  ], {
    ...pinned(tools),
    stdinPipe: true,
  });
  try {
    const r = JSON.parse(await holder.firstLine(90_000)) as Record<string, number>;
    await sleep(1000); // let lazy allocations and GC settle
    const after = rssKiB(t.pid);
    const ready = r.ready ?? 0;
    return {
      values: {
        [`idle_${tag}_kib`]: ready > 0 ? (after - before) / ready : NaN,
        [`idle_${tag}_conns`]: ready,
        [`idle_${tag}_rss_before_kib`]: before,
        [`idle_${tag}_rss_after_kib`]: after,
      },
    };
  } finally {
    holder.child.stdin?.end();
    const t0 = setTimeout(() => holder.kill("SIGKILL"), 10_000);
    await holder.exited;
    clearTimeout(t0);
    await sleep(1500); // the proxy closes its side of every connection
  }
}
