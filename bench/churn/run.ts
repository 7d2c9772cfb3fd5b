// The churn benchmark (`deno task bench --only churn`): the same routing with thousands of
// listeners given to sluice (routing file, Consul emulator), HAProxy and nginx one after the
// other, then a fixed, seeded series of changes under traffic. See bench/README.md.
import { existsSync, mkdirSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { findExecutable, type Proc, run, start } from "../lib/procs.ts";
import { listeningPorts, sleep } from "../lib/sys.ts";
import { median } from "../lib/report.ts";
import { apply, type Change, clone, makePlan, type Plan } from "./plan.ts";
import {
  churnMissing,
  type ChurnProxy,
  createDriver,
  type Driver,
  selfChildTicks,
  tree,
  treeTicks,
} from "./proxies.ts";

export interface ChurnOptions {
  readonly repoRoot: string;
  readonly dir: string;
  readonly echo: string;
  readonly loadgen: string;
  readonly proxies: readonly ChurnProxy[];
  readonly listeners: number;
  readonly changes: number;
  readonly intervalMs: number;
  readonly longLived: number;
  /** Closed-loop concurrency (connections in flight at once). */
  readonly loop: number;
  /** The closed loop's pace: new connections a second at most, in all. */
  readonly rate: number;
  /** Seconds of traffic without changes before them: the CPU the traffic alone costs. */
  readonly baselineSecs: number;
  readonly seed: number;
  /** The fd hard limit: HAProxy and nginx size their tables from it. */
  readonly fdLimit: number;
  readonly genCpus: string | undefined;
  readonly proxyCpus: string | undefined;
  readonly say: (s: string) => void;
  readonly note: (s: string) => void;
}

export type ChurnResult = Record<string, number>;

/** Every probe, in change order: ms from the change (null: timed out). */
export interface ChurnSamples {
  add_ms: (number | null)[];
  remove_ms: (number | null)[];
}

/** Filled by churn(): the raw probe times per proxy, for the JSON. */
export const churnSamples: Record<string, ChurnSamples> = {};

/** The first window of `size` ports in [lo, hi) where nothing listens, avoiding `not`. */
function freeWindow(
  size: number,
  busy: Set<number>,
  not: [number, number] | undefined,
): number | undefined {
  for (let a = 2000; a + size < 32_768; a += 100) {
    if (not && a < not[1] && a + size > not[0]) continue;
    let ok = true;
    for (let p = a; p < a + size && ok; p++) if (busy.has(p)) ok = false;
    if (ok) return a;
  }
  return undefined;
}

const CONNECT_TIMEOUT_MS = 1000;

/** One connection attempt: "ok" when it connected, else the error code. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    const t = setTimeout(() => done("TIMEOUT"), CONNECT_TIMEOUT_MS);
    function done(r: string) {
      clearTimeout(t);
      s.destroy();
      resolve(r);
    }
    s.once("connect", () => done("ok"));
    s.once("error", (e: NodeJS.ErrnoException) => done(e.code ?? "ERROR"));
  });
}

/**
 * Polls a port from t0 until it accepts (want "ok") or refuses (want "ECONNREFUSED"); every
 * 1 ms for the first 100 ms, every 5 ms up to 1 s, 25 ms up to 5 s, then 100 ms. Resolves with
 * the ms since t0, or NaN after timeoutMs.
 */
async function probe(port: number, want: "ok" | "ECONNREFUSED", t0: number, timeoutMs: number) {
  for (;;) {
    const r = await tryConnect(port);
    const now = performance.now();
    if (r === want) return now - t0;
    if (now - t0 > timeoutMs) return NaN;
    const since = now - t0;
    // Coarser later: every successful attempt on a port that should refuse is a proxied
    // connection, and a slow proxy would otherwise get hundreds a second from the probes.
    await sleep(since < 100 ? 1 : since < 1000 ? 5 : since < 5000 ? 25 : 100);
  }
}

function pct(xs: readonly number[], p: number): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)]!;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

async function one(name: ChurnProxy, plan: Plan, o: ChurnOptions): Promise<ChurnResult> {
  const dir = join(o.dir, `churn-${name}`);
  mkdirSync(dir, { recursive: true });
  const n = o.listeners;
  const L = plan.o.listenBase;
  // Traffic ports: the stable singles and the pools (whose backends change under it).
  const trafficPorts = [...plan.poolPorts, ...plan.stablePorts];
  const driver: Driver = createDriver(name, {
    repoRoot: o.repoRoot,
    dir,
    poolPorts: plan.poolPorts,
    listenMin: L,
    listenMax: L + plan.listenSpan,
    cpus: o.proxyCpus,
    // HAProxy needs 2 fds per connection plus one per listener within the fd limit.
    maxConns: Math.floor((o.fdLimit - plan.listenSpan - 1000) / 2),
    say: o.say,
  });
  let traffic: Proc | undefined;
  let sampler: Proc | undefined;
  try {
    const t0 = performance.now();
    await driver.start(plan.initial);
    // Every initial listener accepts (C connect sweep over the listener range).
    let dead = false;
    const sweep = await Promise.race([
      run("loadgen sweep", o.loadgen, [
        "sweep",
        "127.0.0.1",
        String(L),
        String(L + n - 1),
        "120",
        String(Date.now()),
      ], { ...(o.genCpus ? { cpus: o.genCpus } : {}), timeoutMs: 130_000 }),
      (async () => {
        // A proxy that refused its configuration: say so at once, not after 120 s.
        while (!dead) {
          await sleep(200);
          if (!existsSync(`/proc/${driver.pid}`)) {
            throw new Error(`${name} exited during start (see ${dir})`);
          }
        }
        return "";
      })(),
    ]).finally(() => dead = true);
    const sw = JSON.parse(sweep.trim().split("\n").pop()!) as Record<string, number>;
    if (!(sw.all_ms! >= 0)) throw new Error(`only ${sw.accepted}/${n} listeners accepted in 120 s`);
    const startMs = performance.now() - t0;
    o.say(`  ${name}: ${n} listeners accepting ${Math.round(startMs)} ms after start`);

    // Traffic: long-lived connections first (all echoing), then the closed loop.
    const deno = findExecutable("deno", [join(o.repoRoot, "node_modules", ".bin")])!;
    traffic = start("churn traffic", deno, [
      "run",
      "-A",
      join(o.repoRoot, "bench/churn/traffic.ts"),
      JSON.stringify({ ports: trafficPorts, longLived: o.longLived, loop: o.loop, rate: o.rate }),
    ], {
      ...(o.genCpus ? { cpus: o.genCpus } : {}),
      stdinPipe: true,
      stderrFile: join(dir, "traffic.log"),
    });
    const ready = await traffic.firstLine(120_000);
    const opened = Number(ready.split(" ")[1]);
    if (opened < o.longLived) o.note(`${name}: only ${opened}/${o.longLived} long-lived opened`);
    await sleep(1000);

    // Baseline: the same traffic, no change; what forwarding alone costs this proxy.
    const root = driver.pid;
    const b0 = treeTicks(tree(root));
    await sleep(o.baselineSecs * 1000);
    const baseCpuPerS = (treeTicks(tree(root)) - b0) / 100 / o.baselineSecs;

    // The run: one change every intervalMs, each probed on its own.
    // Memory is sampled by a process of its own (reading smaps blocks for up to 300 ms).
    const s = sampler = start("churn sampler", deno, [
      "run",
      "-A",
      join(o.repoRoot, "bench/churn/sampler.ts"),
      String(root),
    ], { stdinPipe: true, stderrFile: join(dir, "sampler.log") });
    await s.firstLine(30_000);
    const pids0 = tree(root);
    const cpu0 = treeTicks(pids0);
    const tools0 = selfChildTicks();
    const wall0 = performance.now();
    const routing = clone(plan.initial);
    const adds: Promise<number>[] = [];
    const removes: Promise<number>[] = [];
    const applyMs: number[] = [];
    const start0 = performance.now();
    for (let i = 0; i < plan.changes.length; i++) {
      const due = start0 + i * o.intervalMs;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const c: Change = plan.changes[i]!;
      apply(routing, c);
      const before = performance.now();
      const t = await driver.change(routing, c);
      applyMs.push(t - before);
      if (c.kind === "add") adds.push(probe(c.port, "ok", t, 30_000));
      else if (c.kind === "remove") removes.push(probe(c.port, "ECONNREFUSED", t, 30_000));
    }
    const addMs = await Promise.all(adds);
    const removeMs = await Promise.all(removes);
    const raw = (xs: number[]) => xs.map((x) => Number.isFinite(x) ? round1(x) : null);
    churnSamples[name] = { add_ms: raw(addMs), remove_ms: raw(removeMs) };
    await driver.settled(60_000);
    const wall = (performance.now() - wall0) / 1000;
    const mid = tree(root);
    const cpu1 = treeTicks(mid);
    const tools1 = selfChildTicks();
    // Baseline again after the run (the first may still hold a runtime's warm-up); the lower
    // of the two is subtracted, so the changes are charged at least what they cost.
    const a0 = treeTicks(tree(root));
    await sleep(o.baselineSecs * 1000);
    const afterCpuPerS = (treeTicks(tree(root)) - a0) / 100 / o.baselineSecs;
    const baseline = Math.min(baseCpuPerS, afterCpuPerS);
    s.child.stdin?.end();
    await Promise.race([s.exited, sleep(10_000)]);
    const mem = JSON.parse(s.stdout().trim().split("\n").pop()!) as Record<string, number>;

    // Traffic ends: its stdin closes, it lets the last echoes arrive and reports.
    traffic.child.stdin?.end();
    const code = await Promise.race([traffic.exited, sleep(20_000).then(() => -1)]);
    if (code !== 0) throw new Error(`traffic exited with ${code}`);
    const t = JSON.parse(traffic.stdout().trim().split("\n").pop()!) as Record<string, number>;

    // Reload tools we ran ourselves (nginx -s reload parses the whole configuration too).
    const toolTicks = name === "nginx" ? tools1 - tools0 : 0;
    const cpuS = (cpu1 - cpu0 + toolTicks) / 100;
    const r: ChurnResult = {
      listeners: n,
      changes: plan.changes.length,
      start_ms: Math.round(startMs),
      adds: addMs.length,
      add_p50_ms: round1(pct(addMs, 50)),
      add_p99_ms: round1(pct(addMs, 99)),
      add_max_ms: round1(Math.max(...addMs.map((x) => Number.isFinite(x) ? x : Infinity))),
      add_timeouts: addMs.filter((x) => !Number.isFinite(x)).length,
      removes: removeMs.length,
      remove_p50_ms: round1(pct(removeMs, 50)),
      remove_p99_ms: round1(pct(removeMs, 99)),
      remove_max_ms: round1(Math.max(...removeMs.map((x) => Number.isFinite(x) ? x : Infinity))),
      remove_timeouts: removeMs.filter((x) => !Number.isFinite(x)).length,
      change_write_ms: round1(median(applyMs)),
      conn_ok: t.loop_ok!,
      conn_refused: t.loop_refused!,
      conn_reset: t.loop_reset!,
      conn_timeout: t.loop_timeout!,
      conn_other: t.loop_other! + t.loop_corrupt!,
      long_opened: t.long_opened!,
      long_broken: t.long_broken!,
      long_msgs_sent: t.long_msgs_sent!,
      long_msgs_ok: t.long_msgs_ok!,
      bytes_lost: t.long_bytes_lost!,
      bytes_corrupt_msgs: t.long_corrupt!,
      run_s: round1(wall),
      cpu_s: Math.round(cpuS * 100) / 100,
      baseline_cpu_pct: round1(baseCpuPerS * 100),
      baseline_after_cpu_pct: round1(afterCpuPerS * 100),
      // The run's CPU minus what the same traffic cost without changes over as long.
      change_cpu_s: Math.round(Math.max(0, cpuS - baseline * wall) * 100) / 100,
      cpu_ms_per_change: round1((Math.max(0, cpuS - baseline * wall) * 1000) / plan.changes.length),
      reload_tool_cpu_s: toolTicks / 100,
      peak_rss_mib: round1(mem.peakRssKiB! / 1024),
      peak_pss_mib: round1(mem.peakPssKiB! / 1024),
      peak_procs: mem.peakProcs!,
      reloads: driver.reloads(),
    };
    const errs = (t as unknown as { errors: Record<string, number> }).errors;
    if (errs && Object.keys(errs).length) {
      o.say(`  ${name}: traffic errors ${JSON.stringify(errs)}`);
    }
    o.say(
      `  ${name}: add p50/p99/max ${r.add_p50_ms}/${r.add_p99_ms}/${r.add_max_ms} ms, ` +
        `remove p50/p99 ${r.remove_p50_ms}/${r.remove_p99_ms} ms, ` +
        `refused ${r.conn_refused} reset ${r.conn_reset} of ${r.conn_ok}, long broken ${r.long_broken}, ` +
        `lost ${r.bytes_lost} B, CPU ${r.cpu_s} s, peak RSS ${r.peak_rss_mib} MiB (${r.peak_procs} procs)`,
    );
    return r;
  } finally {
    if (traffic) await traffic.kill();
    await sampler?.kill();
    // The tree as it is now (old workers included), killed by PID after the root.
    const rest = driver.pid ? tree(driver.pid).slice(1) : [];
    await driver.stop();
    for (const p of rest) {
      try {
        process.kill(p, "SIGKILL");
      } catch { /* gone */ }
    }
  }
}

export async function churn(o: ChurnOptions): Promise<Record<string, ChurnResult>> {
  const busy = new Set(listeningPorts(1, 65_535));
  const listenSize = o.listeners + o.changes + 10;
  const backendSize = o.listeners + o.changes + 64;
  const L = freeWindow(listenSize, busy, undefined);
  if (L === undefined) throw new Error(`churn: no free window of ${listenSize} ports`);
  const B = freeWindow(backendSize, busy, [L, L + listenSize]);
  if (B === undefined) throw new Error(`churn: no second free window of ${backendSize} ports`);
  const plan = makePlan({
    listeners: o.listeners,
    changes: o.changes,
    listenBase: L,
    backendBase: B,
    seed: o.seed,
  });
  const kinds = { add: 0, remove: 0, pool: 0 };
  for (const c of plan.changes) kinds[c.kind]++;
  o.say(
    `churn: ${o.listeners} listeners on ${L}..${L + o.listeners - 1}, backends from ${B}; ` +
      `${o.changes} changes (${kinds.add} add, ${kinds.remove} remove, ${kinds.pool} pool), ` +
      `one every ${o.intervalMs} ms; ${o.longLived} long-lived connections, closed loop of ${o.loop}`,
  );
  const echo = start(
    "churn echo backends",
    o.echo,
    ["0", "0", String(B), String(plan.backendSpan)],
    {
      ...(o.genCpus ? { cpus: o.genCpus } : {}),
    },
  );
  await echo.firstLine(60_000);
  const out: Record<string, ChurnResult> = {};
  try {
    for (const name of o.proxies) {
      const why = churnMissing(name, o.repoRoot);
      if (why) {
        o.note(`churn ${name} skipped: ${why}`);
        continue;
      }
      o.say(`churn: ${name}`);
      try {
        out[name] = await one(name, plan, o);
      } catch (e) {
        o.note(`churn ${name} failed: ${e instanceof Error ? e.message : e}`);
      }
      await sleep(1000);
    }
  } finally {
    await echo.kill();
  }
  return out;
}
