// The C backend and load generator, compiled into bench/.build when the source is newer: one
// build for every entry point (run.ts, profile/ab.ts).
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { findExecutable, run } from "./procs.ts";

/** Compiles bench/c/{echo,loadgen}.c when needed; the paths of the binaries. */
export async function buildTools(benchDir: string): Promise<{ echo: string; loadgen: string }> {
  const gcc = findExecutable("gcc") ?? findExecutable("cc");
  if (!gcc) {
    throw new Error("gcc not found: apt-get install gcc (the backend and load generator are C)");
  }
  const out = join(benchDir, ".build");
  mkdirSync(out, { recursive: true });
  const bins: Record<string, string> = {};
  for (const name of ["echo", "loadgen"]) {
    const src = join(benchDir, "c", `${name}.c`);
    const bin = join(out, name);
    if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
      await run(`gcc ${name}`, gcc, ["-O2", "-Wall", "-o", bin, src], { timeoutMs: 60_000 });
    }
    bins[name] = bin;
  }
  return { echo: bins.echo!, loadgen: bins.loadgen! };
}
