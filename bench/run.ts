// The benchmark harness: `deno task bench` (deno run -A bench/run.ts). Compares sluice on Deno
// and Bun with HAProxy, nginx and the direct path; see bench/README.md for how to read it.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { findExecutable, killAll, killOnExit, start } from "./lib/procs.ts";
import { accepts, cpuTimes, freePort, sleep, waitFor } from "./lib/sys.ts";
import {
  ALL_TARGETS,
  type Backends,
  missing,
  startTarget,
  type Target,
  type TargetName,
} from "./lib/targets.ts";
import * as measure from "./lib/measure.ts";
import { buildTools } from "./lib/build.ts";
import {
  addSample,
  checkGoals,
  goalLines,
  medians,
  type Samples,
  spreads,
  svg,
  table,
} from "./lib/report.ts";
import { scale } from "./lib/scale.ts";
import {
  measureSni,
  type SniMeasured,
  sniMissing,
  startSniBackends,
  startSniTarget,
} from "./lib/sni.ts";

import { churn, type ChurnResult, churnSamples } from "./churn/run.ts";
import { churnGoals, churnSvg, churnTable } from "./churn/report.ts";
import type { ChurnProxy } from "./churn/proxies.ts";

const TESTS = ["conn", "pingpong", "bulk", "idle", "scale", "workers", "sni", "churn"] as const;
type Test = typeof TESTS[number];
/** Run when --only is not given: churn takes minutes of its own and runs only when asked. */
const DEFAULT_TESTS: Test[] = ["conn", "pingpong", "bulk", "idle", "scale", "workers", "sni"];
const SOURCES = ["file", "consul"] as const;

const USAGE = `usage: deno task bench [--quick] [--only ${TESTS.join(",")}]
                        [--proxies ${
  ALL_TARGETS.join(",")
}] [--reps N] [--secs S] [--no-pin] [--keep]
                        [--listeners N] [--changes N] [--sources file,consul]
  --quick     short runs, 1 repetition, fewer idle connections (a smoke run)
  --only      tests to run (default: all but churn)
  --proxies   systems to compare (default: all that are installed)
  --reps      repetitions per measurement (default 3; the median is reported)
  --secs      seconds per measurement after a warm-up (default 5)
  --no-pin    do not pin with taskset (proxy on CPU 1, load generator and backend on CPU 0)
  --keep      keep the temporary directory with configs and logs
  --entry     sluice as "main" (main.ts run --forward, default) or "engine" (its data path only:
              bench/profile/engine_only.ts; no workers, no scale test), or "bare" in its place:
              a bare relay on the runtime's own sockets (bench/profile/bare_relay.ts), the floor
              of what the runtime allows (conn and ping-pong only)
  --listeners churn: listeners at start (default 5000)
  --changes   churn: changes, one every 250 ms (default 200)
  --sources   churn: how sluice gets its routing (default file,consul)`;

interface Args {
  quick: boolean;
  only: Set<Test>;
  proxies: TargetName[];
  reps: number;
  secs: number;
  pin: boolean;
  keep: boolean;
  entry: "main" | "engine" | "bare";
  listeners: number;
  changes: number;
  sources: Array<typeof SOURCES[number]>;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    quick: false,
    only: new Set(DEFAULT_TESTS),
    proxies: [...ALL_TARGETS],
    reps: 3,
    secs: 5,
    pin: true,
    keep: false,
    entry: "main",
    listeners: 5000,
    changes: 200,
    sources: [...SOURCES],
  };
  let reps: number | undefined, secs: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${f} needs a value\n${USAGE}`);
      return v;
    };
    const list = <T extends string>(allowed: readonly T[]) =>
      value().split(",").filter(Boolean).map((x) => {
        if (!allowed.includes(x as T)) {
          throw new Error(`${f}: unknown "${x}" (expected ${allowed.join(", ")})`);
        }
        return x as T;
      });
    if (f === "--quick") a.quick = true;
    else if (f === "--only") a.only = new Set(list(TESTS));
    else if (f === "--proxies") a.proxies = list(ALL_TARGETS);
    else if (f === "--reps") reps = Number(value());
    else if (f === "--secs") secs = Number(value());
    else if (f === "--no-pin") a.pin = false;
    else if (f === "--keep") a.keep = true;
    else if (f === "--listeners") a.listeners = Number(value());
    else if (f === "--changes") a.changes = Number(value());
    else if (f === "--sources") a.sources = list(SOURCES);
    else if (f === "--entry") a.entry = list(["main", "engine", "bare"] as const)[0] ?? "main";
    else if (f === "-h" || f === "--help") {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown option "${f}"\n${USAGE}`);
  }
  // The bare relay handles no backpressure: its bulk and idle figures would mean nothing.
  if (a.entry === "bare") { for (const t of ["bulk", "idle"] as const) a.only.delete(t); }
  a.reps = reps ?? (a.quick ? 1 : 3);
  a.secs = secs ?? (a.quick ? 1.5 : 5);
  if (!(a.reps >= 1 && a.reps <= 20)) throw new Error("--reps must be 1..20");
  if (!(a.secs > 0 && a.secs <= 120)) throw new Error("--secs must be in (0, 120]");
  if (!(Number.isInteger(a.listeners) && a.listeners >= 60 && a.listeners <= 8000)) {
    throw new Error("--listeners must be an integer in 60..8000");
  }
  if (!(Number.isInteger(a.changes) && a.changes >= 1 && a.changes <= 2000)) {
    throw new Error("--changes must be an integer in 1..2000");
  }
  return a;
}

const say = (s: string) => console.log(s);

function hardFdLimit(): number {
  const m = /Max open files\s+\d+\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"));
  return m ? Number(m[1]) : 1024;
}

function rotate<T>(xs: readonly T[], k: number): T[] {
  const n = xs.length;
  return n ? xs.map((_, i) => xs[(i + k) % n]!) : [];
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  killOnExit();
  const benchDir = dirname(fileURLToPath(import.meta.url));
  const repoRoot = dirname(benchDir);
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, "-");
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-"));
  const pin = args.pin && findExecutable("taskset") !== undefined;
  const genCpus = pin ? "0" : undefined;
  const proxyCpus = pin ? "1" : undefined;
  const notes: string[] = [];
  const note = (s: string) => {
    notes.push(s);
    say(`note: ${s}`);
  };
  const timing = { secs: args.secs, warm: args.quick ? 0.5 : 1 };

  const hard = hardFdLimit();
  // The proxy holds two descriptors per proxied connection (client and backend side).
  const idleMax = Math.max(100, Math.floor((hard - 300) / 2));
  const idleCounts: Array<[string, number]> = args.quick
    ? [["1k", 1000], ["10k", Math.min(2000, idleMax)]]
    : [["1k", Math.min(1000, idleMax)], ["10k", Math.min(10_000, idleMax)]];
  if (idleCounts[1]![1] < 10_000) {
    note(
      `the "10k" idle test opens ${idleCounts[1]![1]} connections, not 10,000: ` +
        (args.quick
          ? "--quick"
          : `the fd hard limit is ${hard} and the proxy needs 2 fds per connection`),
    );
  }
  say(
    `sluice bench ${started.toISOString()}: ${args.reps} repetition(s) of ${timing.secs} s (+${timing.warm} s warm-up)`,
  );
  say(
    pin
      ? "pinning: proxy on CPU 1; load generator, backend and iperf3 on CPU 0 (direct path: backend on CPU 1)"
      : "not pinned: every process may run on every CPU",
  );

  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  say(`load average at start: ${load}`);
  if (Number(load.split(" ")[0]) > 1) {
    note(`the machine is busy (load average ${load}): figures are provisional`);
  }
  const bins = await buildTools(benchDir);
  const iperf3 = findExecutable("iperf3");
  if (!iperf3) {
    note("iperf3 not installed: bulk throughput uses the built-in C bulk client and sink");
  }
  const tools: measure.Tools = { loadgen: bins.loadgen, iperf3, genCpus };

  // Backends: the C echo server (echo + sink ports) and, when installed, an iperf3 server.
  const echo = start("echo backend", bins.echo, [], { ...(genCpus ? { cpus: genCpus } : {}) });
  const [, ep, sp] = (await echo.firstLine(10_000)).split(" ");
  let bulkPort = Number(sp);
  let bulkKind: Backends["bulkKind"] = "sink";
  if (iperf3 && (args.only.has("bulk"))) {
    const p = await freePort();
    start("iperf3 -s", iperf3, ["-s", "-p", String(p)], { ...(genCpus ? { cpus: genCpus } : {}) });
    if (!await waitFor(() => accepts(p, 300), 10_000, 100)) {
      throw new Error("iperf3 -s did not start");
    }
    bulkPort = p;
    bulkKind = "iperf3";
  }
  const backends: Backends = { echoPort: Number(ep), bulkPort, bulkKind };
  // The direct path gets its own backends on the proxy's CPU: it is the whole machine with no
  // proxy in between, so it shows how much load the generator on CPU 0 can produce.
  let directBackends = backends;
  if (args.proxies.includes("direct") && proxyCpus !== undefined) {
    const echo2 = start("echo backend (direct)", bins.echo, [], { cpus: proxyCpus });
    const [, ep2, sp2] = (await echo2.firstLine(10_000)).split(" ");
    let bulk2 = Number(sp2);
    if (bulkKind === "iperf3") {
      bulk2 = await freePort();
      start("iperf3 -s (direct)", iperf3!, ["-s", "-p", String(bulk2)], { cpus: proxyCpus });
      if (!await waitFor(() => accepts(bulk2, 300), 10_000, 100)) {
        throw new Error("iperf3 -s did not start");
      }
    }
    directBackends = { echoPort: Number(ep2), bulkPort: bulk2, bulkKind };
  }

  const samples: Samples = new Map();
  const targets: Target[] = [];
  const skipped: Record<string, string> = {};
  const needTargets = ["conn", "pingpong", "bulk", "idle"].some((t) => args.only.has(t as Test));
  if (needTargets) {
    for (const name of args.proxies) {
      const why = missing(name, repoRoot);
      if (why) {
        skipped[name] = why;
        note(`${name} skipped: ${why}`);
        continue;
      }
      try {
        targets.push(
          await startTarget(name, name === "direct" ? directBackends : backends, {
            dir,
            repoRoot,
            cpus: proxyCpus,
            maxConns: idleMax,
            entry: args.entry,
          }),
        );
        say(`started ${name}${targets.at(-1)!.pid ? ` (pid ${targets.at(-1)!.pid})` : ""}`);
      } catch (e) {
        skipped[name] = e instanceof Error ? e.message.split("\n")[0]! : String(e);
        note(`${name} could not start: ${e instanceof Error ? e.message : e}`);
      }
    }
  }
  const names = targets.map((t) => t.name);

  const loop = async (
    test: string,
    fn: (t: Target) => Promise<measure.Measured>,
    who = targets,
  ) => {
    for (let rep = 0; rep < args.reps; rep++) {
      for (const t of rotate(who, rep)) {
        let m: measure.Measured;
        try {
          m = await fn(t);
        } catch (e) {
          note(`${test} on ${t.name} failed: ${e instanceof Error ? e.message : e}`);
          continue;
        }
        const extra: Record<string, number> = {};
        if (test === "conn" || test === "pingpong") {
          const p = test === "conn" ? "conn" : "pp";
          if (m.proxyCpu !== undefined) extra[`${p}_proxy_cpu`] = m.proxyCpu;
          if (m.cpus?.cpu0 !== undefined) extra[`${p}_gen_cpu`] = m.cpus.cpu0;
        }
        addSample(samples, t.name, { ...m.values, ...extra });
        const shown = Object.entries(m.values).filter(([k]) =>
          !k.includes("rss") && !k.endsWith("errors")
        )
          .map(([k, v]) => `${k}=${Number.isFinite(v) ? +v.toFixed(2) : v}`).join(" ");
        const cpu = m.proxyCpu !== undefined ? ` proxy_cpu=${m.proxyCpu}%` : "";
        const busy = m.cpus
          ? ` busy=${Object.entries(m.cpus).map(([k, v]) => `${k}:${v}%`).join(",")}`
          : "";
        say(`  ${test} #${rep + 1} ${t.name.padEnd(7)} ${shown}${cpu}${busy}`);
      }
    }
  };

  if (args.only.has("conn")) await loop("conn", (t) => measure.conn(t, tools, timing));
  if (args.only.has("pingpong")) await loop("pingpong", (t) => measure.pingpong(t, tools, timing));
  if (args.only.has("bulk")) {
    await loop("bulk1", (t) => measure.bulk(t, tools, timing, 1));
    await loop("bulk8", (t) => measure.bulk(t, tools, timing, 8));
  }
  if (args.only.has("idle")) {
    // A fresh process per measurement: allocators and pools keep memory from earlier
    // connections (HAProxy reuses its pools: 3 KiB per connection on a fresh process, 0 after),
    // and a garbage collector may return memory in the middle of the next measurement.
    const proxies = targets.filter((t) => t.pid !== undefined);
    for (const [tag, count] of idleCounts) {
      await loop(`idle ${count}`, async (t) => {
        await t.stop();
        const fresh = await startTarget(t.name, backends, {
          dir,
          repoRoot,
          cpus: proxyCpus,
          maxConns: idleMax,
          entry: args.entry,
        });
        try {
          return await measure.idle(fresh, tools, count, tag);
        } finally {
          await fresh.stop();
        }
      }, proxies);
    }
  }
  for (const t of targets) await t.stop();

  const scaleResults: Record<string, Record<string, number>> = {};
  if (args.entry !== "main" && (args.only.has("scale") || args.only.has("workers"))) {
    note(
      `--entry ${args.entry}: the scale and workers tests need the whole program and are skipped`,
    );
    args.only.delete("scale");
    args.only.delete("workers");
  }
  if (args.only.has("scale")) {
    for (const rt of ["deno", "bun"] as const) {
      if (!args.proxies.includes(rt)) continue;
      const why = missing(rt, repoRoot);
      if (why) {
        note(`scale on ${rt} skipped: ${why}`);
        continue;
      }
      say(`scale: ${rt}, 5,000 listeners from one routing file`);
      try {
        scaleResults[rt] = await scale({
          runtime: rt,
          repoRoot,
          dir,
          echoPort: backends.echoPort,
          loadgen: bins.loadgen,
          genCpus,
          proxyCpus,
          listeners: 5000,
          idleSecs: args.quick ? 3 : 10,
          changes: args.quick ? 1 : 5,
          say,
        });
      } catch (e) {
        note(`scale on ${rt} failed: ${e instanceof Error ? e.message : e}`);
      }
    }
  }

  const workers: Record<string, Record<string, number>> = {};
  if (args.only.has("workers")) {
    // Both CPUs for everyone: with 2 workers sluice needs both cores, so nothing is pinned.
    say(
      "workers: connection rate with runtime.workers = 1 and 2 (not pinned; generator shares the cores)",
    );
    const unpinned: measure.Tools = { ...tools, genCpus: undefined };
    const plan: Array<[TargetName, number]> = [];
    for (const rt of ["haproxy", "deno", "bun"] as const) {
      if (args.proxies.includes(rt) && !missing(rt, repoRoot)) plan.push([rt, 1], [rt, 2]);
    }
    for (let rep = 0; rep < args.reps; rep++) {
      for (const [rt, n] of rotate(plan, rep)) {
        const key = `${rt} x${n}`;
        let t: Target | undefined;
        try {
          t = await startTarget(rt, backends, {
            dir,
            repoRoot,
            cpus: undefined,
            maxConns: 1000,
            ...(rt === "haproxy" ? { threads: n } : { workers: n }),
          });
          if (n > 1 && rt !== "haproxy") await sleep(1500); // the workers bind after the first
          const m = await measure.conn(t, unpinned, timing);
          (workers[key] ??= {}).conn_rate = m.values.conn_rate!;
          workers[key]!.samples ??= 0;
          workers[key]!.samples! += 1;
          addSample(samples, key as TargetName, { workers_conn_rate: m.values.conn_rate! });
          say(
            `  workers #${rep + 1} ${key.padEnd(10)} conn_rate=${
              m.values.conn_rate!.toFixed(0)
            } proxy_cpu=${m.proxyCpu}%`,
          );
        } catch (e) {
          note(`workers ${key} failed: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
        } finally {
          await t?.stop();
        }
      }
    }
    const med = medians(samples);
    for (const key of Object.keys(workers)) {
      workers[key]!.conn_rate = med[key]?.workers_conn_rate ?? NaN;
    }
  }

  const sniResults: Record<string, SniMeasured[]> = {};
  if (args.only.has("sni")) {
    const why = sniMissing();
    if (why) note(`sni skipped: ${why}`);
    else {
      say("sni: TLS handshakes/s, one port routed to two TLS servers by server name");
      const be = await startSniBackends(dir, genCpus);
      const sniTargets = [];
      for (const name of args.proxies) {
        try {
          sniTargets.push(
            await startSniTarget(name, be, { dir, cpus: proxyCpus, maxConns: 4096, repoRoot }),
          );
        } catch (e) {
          note(`sni on ${name} skipped: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
        }
      }
      for (let rep = 0; rep < args.reps; rep++) {
        for (const t of rotate(sniTargets, rep)) {
          try {
            const r = await measureSni(t, be, {
              repoRoot,
              genCpus,
              secs: timing.secs,
              warm: timing.warm,
              concurrency: 16,
            });
            (sniResults[t.name] ??= []).push(r);
            addSample(samples, t.name, { sni_hs_rate: r.hs_rate });
            say(
              `  sni #${rep + 1} ${t.name.padEnd(7)} hs_rate=${r.hs_rate.toFixed(0)} ` +
                `errors=${r.errors} misrouted=${r.wrong}`,
            );
            if (r.wrong > 0) {
              note(`sni on ${t.name}: ${r.wrong} handshakes reached the wrong server`);
            }
          } catch (e) {
            note(`sni on ${t.name} failed: ${e instanceof Error ? e.message : e}`);
          }
        }
      }
      for (const t of sniTargets) await t.stop();
      await be.stop();
    }
  }

  let churned: Record<string, ChurnResult> = {};
  if (args.only.has("churn")) {
    const proxies: ChurnProxy[] = [];
    for (const rt of ["deno", "bun"] as const) {
      if (!args.proxies.includes(rt)) continue;
      for (const src of args.sources) proxies.push(`${rt}-${src}` as ChurnProxy);
    }
    for (const p of ["haproxy", "nginx"] as const) if (args.proxies.includes(p)) proxies.push(p);
    churned = await churn({
      repoRoot,
      dir,
      echo: bins.echo,
      loadgen: bins.loadgen,
      proxies,
      listeners: args.listeners,
      changes: args.changes,
      intervalMs: 250,
      longLived: Math.min(1000, Math.floor((hard - args.listeners - 500) / 3)),
      loop: 4,
      rate: 400,
      baselineSecs: 5,
      seed: 14,
      fdLimit: hard,
      genCpus,
      proxyCpus,
      say,
      note,
    });
    say("");
    say(`churn: ${args.listeners} listeners, ${args.changes} changes`);
    say(churnTable(churned));
    const cg = churnGoals(churned);
    say("");
    say("issue 14 targets:");
    for (const g of cg) {
      say(`  ${g.met ? "met    " : "NOT MET"} ${g.runtime.padEnd(12)} ${g.goal}: ${g.value}`);
    }
    const results = join(benchDir, "results");
    mkdirSync(results, { recursive: true });
    const base = join(results, `${stamp}-churn`);
    writeFileSync(
      `${base}.json`,
      JSON.stringify(
        {
          started: started.toISOString(),
          host: { cpus: cpuTimes().size, fd_hard_limit: hard, load_before: load },
          load_after: readFileSync("/proc/loadavg", "utf8").trim(),
          options: {
            listeners: args.listeners,
            changes: args.changes,
            interval_ms: 250,
            sources: args.sources,
            proxies,
            pinned: pin,
            seed: 14,
          },
          notes,
          results: churned,
          goals: cg,
          samples: churnSamples,
        },
        null,
        2,
      ) + "\n",
    );
    writeFileSync(
      `${base}.svg`,
      churnSvg(
        churned,
        `sluice churn ${
          started.toISOString().slice(0, 16)
        }: ${args.listeners} listeners, ${args.changes} changes`,
      ),
    );
    say(`wrote ${base}.json`);
    say(`wrote ${base}.svg`);
    if ([...args.only].every((t) => t === "churn")) {
      if (args.keep) say(`kept ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
      return 0;
    }
  }

  // Report.
  const m = medians(samples);
  const spread = spreads(samples);
  const shownTargets = ALL_TARGETS.filter((t) => names.includes(t));
  say("");
  say(`results (median of ${args.reps}; in brackets the ratio to HAProxy)`);
  say(table(m, shownTargets));
  if (Object.keys(scaleResults).length) {
    say("");
    say("routing at scale (5,000 listeners from one routing file):");
    for (const [rt, r] of Object.entries(scaleResults)) {
      say(
        `  ${rt}: cold start ${r.open_cold_ms} ms, hot ${r.open_hot_ms} ms from the file write, ` +
          `one change ${r.change_ms?.toFixed(1)} ms (${
            r.change_net_ms?.toFixed(1)
          } ms net of the ${r.debounce_ms} ms debounce, from the saved file; writing it took ${r.change_write_ms} ms), ` +
          `idle CPU ${r.idle_cpu_pct?.toFixed(2)} %, RSS ${
            Math.round((r.idle_rss_kib ?? 0) / 1024)
          } MiB`,
      );
    }
  }
  if (Object.keys(sniResults).length) {
    say("");
    say(`SNI routing, TLS handshakes/s (median of ${args.reps}; ratio to HAProxy):`);
    const base = m.haproxy?.sni_hs_rate;
    for (const name of Object.keys(sniResults)) {
      const v = m[name]?.sni_hs_rate ?? NaN;
      const r = base ? ` (${(v / base).toFixed(2)}x)` : "";
      say(`  ${name.padEnd(8)} ${v.toFixed(0)}${r}`);
    }
  }
  if (Object.keys(workers).length) {
    say("");
    say("runtime.workers (connection rate, not pinned):");
    for (const [k, v] of Object.entries(workers)) {
      say(`  ${k.padEnd(10)} ${v.conn_rate?.toFixed(0)}`);
    }
  }
  // The load generator must not be the bottleneck: the direct path beats every proxy.
  const checks: string[] = [];
  if (m.direct) {
    for (const key of ["conn_rate", "pp_rate"]) {
      const d = m.direct[key];
      if (d === undefined) continue;
      for (const t of shownTargets.filter((x) => x !== "direct")) {
        const v = m[t]?.[key];
        if (v === undefined) continue;
        const margin = d / v;
        checks.push(
          `${margin >= 1.15 ? "ok  " : "WEAK"} direct ${key} is ${margin.toFixed(2)}x ${t}`,
        );
      }
    }
  } else checks.push("not checked: the direct path was not measured");
  say("");
  say("check: the direct path beats every proxy (ok from 1.15x):");
  say(checks.map((c) => "  " + c).join("\n"));
  const goals = checkGoals(m, scaleResults);
  say("");
  say("issue 7 targets:");
  say(goalLines(goals).split("\n").map((l) => "  " + l).join("\n"));

  const results = join(benchDir, "results");
  mkdirSync(results, { recursive: true });
  const record = {
    started: started.toISOString(),
    host: {
      cpus: cpuTimes().size,
      fd_hard_limit: hard,
      load_before: readFileSync("/proc/loadavg", "utf8").trim(),
    },
    options: { ...args, only: [...args.only], pinned: pin, timing, idleCounts },
    backends,
    skipped,
    notes,
    medians: m,
    spread_pct: spread,
    samples: Object.fromEntries([...samples].map(([t, s]) => [t, Object.fromEntries(s)])),
    scale: scaleResults,
    workers,
    sni: sniResults,
    churn: churned,
    checks,
    goals: goals.map((g) => ({ ...g.goal, runtime: g.runtime, value: g.value, met: g.met })),
  };
  const jsonPath = join(results, `${stamp}.json`);
  writeFileSync(jsonPath, JSON.stringify(record, null, 2) + "\n");
  const svgPath = join(results, `${stamp}.svg`);
  writeFileSync(
    svgPath,
    svg(m, shownTargets, `sluice bench ${started.toISOString().slice(0, 16)}`),
  );
  say("");
  say(`wrote ${jsonPath}`);
  say(`wrote ${svgPath}`);
  if (args.keep) say(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : e}\n`);
} finally {
  await killAll();
}
process.exit(code);
