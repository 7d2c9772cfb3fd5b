// Where "one change in a 5,000-listener routing file" spends its time, stage by stage, in one
// process and without the file watch: compare with the last bytes + decode (what the file
// provider does before applying; it hashes only afterwards), parse and validate
// (the routing document), build the table, apply it
// to a real engine whose runtime binds nothing (a stub listen), so the figures are the
// pipeline's own CPU cost and not the kernel's.
//   deno run -A bench/profile/pipeline.ts [N] [ROUNDS] [--cold]
//   bun bench/profile/pipeline.ts [N] [ROUNDS] [--cold]
// Add --cpu-prof (Deno: `deno run -A --cpu-prof ...`; Bun: `bun --cpu-prof ...`) for a profile.
import process from "node:process";
import { Buffer } from "node:buffer";
import { createDocumentParser } from "../../src/routing/document.ts";
import { createTableBuilder } from "../../src/routing/table_builder.ts";
import { createEngine } from "../../src/proxy/engine.ts";
import { getRuntime } from "../../src/runtime/detect.ts";
import { configureLogging, rootLogger } from "../../src/log.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import type { TableConfig } from "../../src/routing/types.ts";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const n = Number(args[0] ?? 5000);
const rounds = Number(args[1] ?? 20);
const base = 20_000;

function doc(count: number): string {
  const out: string[] = [];
  for (let p = base; p < base + count; p++) {
    out.push(
      `[[services]]\nname = "s${p}"\nlistener = "local:${p}"\nbackends = ["127.0.0.1:9"]\n`,
    );
  }
  return out.join("\n");
}

const real = getRuntime();
let binds = 0;
const stub: Runtime = {
  ...real,
  listen(o) {
    binds++;
    return { addr: { host: o.host, port: o.port, family: 4 }, close() {} };
  },
};
configureLogging({ level: "warn" });
const config = await loadConfig({
  env: { SLUICE_LISTENERS_PORT_MIN: "1", SLUICE_LISTENERS_PORT_MAX: "65535" },
});
const cfg: TableConfig = {
  allowed: { ...config.listeners.allowed, local: "127.0.0.1" },
  portMin: 1,
  portMax: 65535,
  defaults: config.defaults,
};
const engine = createEngine({ rt: stub, log: rootLogger.child("proxy"), accessLog: false });

const stages = ["compare+decode", "document", "build", "apply"] as const;
const times: Record<string, number[]> = Object.fromEntries(stages.map((s) => [s, []]));

let lastBytes: Buffer | undefined;
// As the file provider and the app own them.
const parser = createDocumentParser("/x/routing.toml");
const tables = createTableBuilder();

function once(text: string, record: boolean): void {
  const bytes = Buffer.from(text); // as read from the file, outside the clock
  const t: number[] = [performance.now()];
  if (lastBytes?.equals(bytes)) throw new Error("pipeline: the document did not change");
  new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  lastBytes = bytes;
  t.push(performance.now());
  const { services } = parser.parse(text, "toml");
  t.push(performance.now());
  const { table } = tables.build([{ provider: "file", services }], cfg);
  t.push(performance.now());
  engine.apply(table);
  t.push(performance.now());
  if (record) stages.forEach((s, i) => times[s]!.push(t[i + 1]! - t[i]!));
}

const full = doc(n);
const plus = doc(n + 1);
once(full, false);
// --cold: no warm-up and one change a second, as a running sluice sees them (the JIT has not
// optimised the code for one change yet); the default warms up and changes back to back.
const cold = process.argv.includes("--cold");
for (let i = 0; i < (cold ? 0 : 3); i++) {
  once(plus, false);
  once(full, false);
}
for (let i = 0; i < rounds; i++) {
  if (cold) await new Promise((r) => setTimeout(r, 1000));
  once(i % 2 ? full : plus, true);
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1] ?? NaN;
let total = 0;
const parts = stages.map((s) => {
  const m = med(times[s]!);
  total += m;
  return `${s} ${m.toFixed(2)}`;
});
console.log(
  `${real.name} ${n} services, one change, median of ${rounds}${cold ? ", cold" : ""} (ms): ${
    parts.join(", ")
  }; total ${total.toFixed(2)} (binds ${binds})`,
);
console.log("stats", JSON.stringify(tables.stats), JSON.stringify(parser.stats));
await engine.shutdown();
process.exit(0);
