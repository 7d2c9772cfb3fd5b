// Profiling driver: sluice's data path (engine, metrics observer, runtime adapter) for one
// forward, without providers, admin or CLI, so `--cpu-prof` shows the hot path alone.
//   deno run -A --unstable-net --cpu-prof bench/profile/engine_only.ts LISTEN BACKEND [LISTEN BACKEND]...
//   bun --cpu-prof bench/profile/engine_only.ts LISTEN BACKEND [LISTEN BACKEND]...
// (also `deno task bench --entry engine`: the harness runs this instead of main.ts)
// Stops on SIGTERM/SIGINT (so the profile is written).
import process from "node:process";
import { getRuntime } from "../../src/runtime/detect.ts";
import { createEngine } from "../../src/proxy/engine.ts";
import { createMetrics } from "../../src/admin/metrics.ts";
import { buildTable } from "../../src/routing/table.ts";
import { loadConfig } from "../../src/config/load.ts";
import { tableConfigFrom } from "../../src/config/table_config.ts";
import { forwardServices, parseForward } from "../../src/cli/forward.ts";
import { configureLogging, rootLogger } from "../../src/log.ts";

const ports = process.argv.slice(2);
const rt = getRuntime();
const config = await loadConfig({ env: { SLUICE_LISTENERS_PORT_MAX: "65535" } });
configureLogging({ level: "warn" });
const engine = createEngine({
  rt,
  log: rootLogger.child("proxy"),
  accessLog: false,
  drainTimeoutMs: 500,
  observer: createMetrics(),
});
const forwards = [];
for (let i = 0; i + 1 < ports.length; i += 2) {
  forwards.push(parseForward(`${ports[i]}:127.0.0.1:${ports[i + 1]}`));
}
const services = forwardServices(forwards);
const { table } = buildTable([{ provider: "bench", services }], tableConfigFrom(config));
engine.apply(table);
process.stdout.write("ready\n");
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await engine.shutdown();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
