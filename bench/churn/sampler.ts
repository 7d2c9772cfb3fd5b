// Samples a process tree's memory in a process of its own: reading smaps_rollup of a runtime
// with a large heap took 100-300 ms on a busy machine, which would have delayed the harness's
// probes. Prints one JSON line when its stdin closes.
//
//   deno run -A bench/churn/sampler.ts ROOT_PID
import process from "node:process";
import { tree, treePssKiB, treeRssKiB } from "./proxies.ts";

const root = Number(process.argv[2]);
let peakRss = 0, peakPss = 0, peakProcs = 0, samples = 0;
let stopped = false;
process.stdin.on("end", () => stopped = true);
process.stdin.on("close", () => stopped = true);
process.stdin.resume();
console.log("ready");
for (let i = 0; !stopped; i++) {
  const pids = tree(root);
  peakProcs = Math.max(peakProcs, pids.length);
  peakRss = Math.max(peakRss, treeRssKiB(pids));
  // PSS walks every mapping: once a second is enough for a peak over a minute.
  if (i % 4 === 0) peakPss = Math.max(peakPss, treePssKiB(pids));
  samples++;
  await new Promise((r) => setTimeout(r, 250));
}
console.log(JSON.stringify({ peakRssKiB: peakRss, peakPssKiB: peakPss, peakProcs, samples }));
process.exit(0);
