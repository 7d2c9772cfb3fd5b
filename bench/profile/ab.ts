// Paired A/B of CPU time per connection: sluice against the bare relay (or any two entries), run
// alternately against the same backend so that a change of a few percent stands out of this
// machine's noise (bench/README.md, "Noise"). Host steal time does not inflate a process's own
// CPU time, which is why the figure is CPU per connection and not the connection rate.
//
//   deno run -A bench/profile/ab.ts [--runtimes deno,bun] [--pairs 8] [--secs 3]
//                                   [--a main|engine|bare] [--b main|engine|bare]
//
// Each pair runs A then B (B then A on odd pairs) with the C load generator's connection test
// (connect, 100 bytes echoed, close; 50 at once), proxy on CPU 1, generator and backend on
// CPU 0. CPU per connection = the proxy's utime + stime over the run / connections made.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import * as measure from "../lib/measure.ts";
import { buildTools } from "../lib/build.ts";
import { findExecutable, killOnExit, start } from "../lib/procs.ts";
import { median } from "../lib/report.ts";
import { type Backends, startTarget } from "../lib/targets.ts";

type Entry = "main" | "engine" | "bare";
const ENTRIES: readonly Entry[] = ["main", "engine", "bare"];

interface Args {
  runtimes: Array<"deno" | "bun">;
  pairs: number;
  secs: number;
  a: Entry;
  b: Entry;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { runtimes: ["deno", "bun"], pairs: 8, secs: 3, a: "main", b: "bare" };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    const v = argv[++i] ?? "";
    if (f === "--runtimes") a.runtimes = v.split(",") as Args["runtimes"];
    else if (f === "--pairs") a.pairs = Math.max(1, Math.min(50, Number(v) || 8));
    else if (f === "--secs") a.secs = Math.max(1, Math.min(30, Number(v) || 3));
    else if ((f === "--a" || f === "--b") && ENTRIES.includes(v as Entry)) {
      a[f === "--a" ? "a" : "b"] = v as Entry;
    } else throw new Error(`unknown argument ${f} ${v}`);
  }
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  killOnExit();
  const benchDir = dirname(dirname(fileURLToPath(import.meta.url)));
  const repoRoot = dirname(benchDir);
  const dir = mkdtempSync(join(tmpdir(), "sluice-ab-"));
  const pin = findExecutable("taskset") !== undefined;
  const genCpus = pin ? "0" : undefined;
  const bins = await buildTools(benchDir);
  const tools: measure.Tools = { loadgen: bins.loadgen, iperf3: undefined, genCpus };
  const echo = start("echo backend", bins.echo, [], { ...(genCpus ? { cpus: genCpus } : {}) });
  const [, ep, sp] = (await echo.firstLine(10_000)).split(" ");
  const be: Backends = { echoPort: Number(ep), bulkPort: Number(sp), bulkKind: "sink" };
  const timing = { secs: args.secs, warm: 0.5 };
  console.log(
    `paired A/B: A = ${args.a}, B = ${args.b}; ${args.pairs} pairs of ${args.secs} s ` +
      `connection runs; ${pin ? "proxy on CPU 1, generator and backend on CPU 0" : "unpinned"}`,
  );
  for (const rt of args.runtimes) {
    const opts = (entry: Entry) => ({
      dir,
      repoRoot,
      cpus: pin ? "1" : undefined,
      maxConns: 1000,
      entry,
    });
    const a = await startTarget(rt, be, opts(args.a));
    const b = await startTarget(rt, be, opts(args.b));
    const per: Record<"a" | "b", number[]> = { a: [], b: [] };
    const rate: Record<"a" | "b", number[]> = { a: [], b: [] };
    try {
      for (let i = 0; i < args.pairs; i++) {
        for (const side of i % 2 ? (["b", "a"] as const) : (["a", "b"] as const)) {
          const m = await measure.conn(side === "a" ? a : b, tools, timing);
          const r = m.values.conn_rate!;
          // proxyCpu: percent of one core over the run; per connection in microseconds.
          per[side].push(((m.proxyCpu ?? 0) / 100) / r * 1e6);
          rate[side].push(r);
        }
      }
    } finally {
      await a.stop();
      await b.stop();
    }
    const ma = median(per.a), mb = median(per.b);
    console.log(
      `${rt}: CPU per connection A ${ma.toFixed(0)} us (${per.a.map((x) => x.toFixed(0))}), ` +
        `B ${mb.toFixed(0)} us (${per.b.map((x) => x.toFixed(0))}); A/B ${(ma / mb).toFixed(3)}; ` +
        `connections/s A ${median(rate.a).toFixed(0)}, B ${median(rate.b).toFixed(0)}`,
    );
  }
  await echo.kill();
}

await main();
process.exit(0);
