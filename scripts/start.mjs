#!/usr/bin/env node
// `npm start`: installs the dependencies if needed (deno and bun come from npm), then runs
// sluice on Deno with the bundled example configuration. Extra arguments go to sluice.
// SLUICE_RUNTIME=bun runs it on Bun instead.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules/.bin", name);
if (!existsSync(bin("deno")) || !existsSync(bin("bun"))) {
  const r = spawnSync("npm", ["install", "--no-audit", "--no-fund"], {
    cwd: root,
    stdio: "inherit",
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const extra = process.argv.slice(2);
const args = extra.length ? extra : ["run", "-c", "configs/config.toml"];
const [cmd, argv] = process.env.SLUICE_RUNTIME === "bun"
  ? [bin("bun"), ["main.ts", ...args]]
  : [bin("deno"), ["run", "-A", "--unstable-net", "main.ts", ...args]];
const child = spawn(cmd, argv, { cwd: root, stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1"]) {
  process.on(sig, () => child.kill(sig));
}
child.on("exit", (code, sig) => process.exit(code ?? (sig ? 1 : 0)));
