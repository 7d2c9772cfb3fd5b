// CPU profiles of sluice's data path under the connection-rate and ping-pong loads, on Deno and
// Bun: `deno run -A bench/profile/run.ts [--secs S] [--main]`. Writes .cpuprofile files into
// bench/results/profile-<timestamp>/ and prints the top functions by self time.
// --main profiles the whole program (main.ts run --forward) instead of bench/profile/engine_only.ts.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { findExecutable, killAll, killOnExit, run, start } from "../lib/procs.ts";
import { echoes, freePort, sleep, waitFor } from "../lib/sys.ts";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** Self time per function (and per file) from a .cpuprofile, in percent of all samples. */
export function summarize(path: string, top = 25): string {
  const p = JSON.parse(readFileSync(path, "utf8")) as { nodes: Node[]; samples?: number[] };
  const hits = new Map<number, number>();
  if (p.samples?.length) { for (const s of p.samples) hits.set(s, (hits.get(s) ?? 0) + 1); }
  else for (const n of p.nodes) hits.set(n.id, n.hitCount ?? 0);
  let total = 0;
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const n of p.nodes) {
    const h = hits.get(n.id) ?? 0;
    if (!h) continue;
    total += h;
    const f = n.callFrame;
    const file =
      f.url.replace(/^file:\/\//, "").replace(/^.*\/(src|bench|node_modules)\//, "$1/") ||
      "(native)";
    const fn = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + h);
    const fileKey = f.url ? file : f.functionName || "(native)";
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + h);
  }
  const pct = (h: number) => (h / total * 100).toFixed(1).padStart(5) + "%";
  const lines = [`${path}: ${total} samples`, "  top functions by self time:"];
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`  ${pct(v)}  ${k}`);
  }
  lines.push("  by file (self time):");
  for (const [k, v] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    lines.push(`  ${pct(v)}  ${k}`);
  }
  return lines.join("\n");
}

async function main() {
  killOnExit();
  const argv = process.argv.slice(2);
  const secs = Number(argv[argv.indexOf("--secs") + 1] || 0) || 5;
  const whole = argv.includes("--main");
  const benchDir = dirname(dirname(fileURLToPath(import.meta.url)));
  const repoRoot = dirname(benchDir);
  const out = join(
    benchDir,
    "results",
    `profile-${new Date().toISOString().replace(/[:.]/g, "-")}`,
  );
  mkdirSync(out, { recursive: true });
  const build = join(benchDir, ".build");
  const echo = start("echo", join(build, "echo"), [], { cpus: "0" });
  const [, ep] = (await echo.firstLine(10_000)).split(" ");
  const bin = join(repoRoot, "node_modules", ".bin");
  const report: string[] = [];
  for (const rt of ["deno", "bun"] as const) {
    const exe = findExecutable(rt, [bin]);
    if (!exe) continue;
    for (const load of ["conn", "pingpong"] as const) {
      const port = await freePort();
      const dir = join(out, `${rt}-${load}`);
      mkdirSync(dir, { recursive: true });
      const script = whole
        ? ["main.ts", "run", "--forward", `${port}:127.0.0.1:${ep}`]
        : ["bench/profile/engine_only.ts", String(port), String(ep)];
      const args = rt === "deno"
        ? ["run", "-A", "--unstable-net", `--cpu-prof-dir=${dir}`, ...script]
        : [`--cpu-prof-dir=${dir}`, "--cpu-prof", ...script];
      const p = start(`${rt} profiled`, exe, args, {
        cpus: "1",
        cwd: repoRoot,
        stderrFile: join(dir, "stderr.log"),
        env: {
          SLUICE_ADMIN_LISTENER: "",
          SLUICE_LISTENERS_PORT_MAX: "65535",
          SLUICE_LOG_ACCESS: "false",
        },
      });
      if (!await waitFor(() => echoes(port, 500), 20_000, 100)) throw new Error(`${rt}: not ready`);
      const res = await run("loadgen", join(build, "loadgen"), [
        load,
        "127.0.0.1",
        String(port),
        "50",
        String(secs),
        "1",
        "100",
      ], { cpus: "0", timeoutMs: secs * 1000 + 30_000 });
      await p.kill("SIGTERM");
      await sleep(300);
      const prof = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
      const head = `${rt} ${load}: ${res.trim()}`;
      report.push(head, prof ? summarize(join(dir, prof)) : `  no .cpuprofile in ${dir}`, "");
      console.log(report.slice(-3).join("\n"));
    }
  }
  writeFileSync(join(out, "summary.txt"), report.join("\n"));
  console.log(`wrote ${out}`);
}

if (import.meta.main) {
  try {
    await main();
  } finally {
    await killAll();
  }
}
