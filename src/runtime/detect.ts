// Picks the runtime adapter once, by `globalThis.Deno` (a bare `Deno` throws in Bun). The other
// adapter is never loaded: each touches its runtime's globals only at call time, but loading
// just one keeps startup lean and errors obvious.
import type { Runtime } from "./types.ts";

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

const runtime: Runtime = isDeno
  ? (await import("./deno/index.ts")).createDenoRuntime()
  : (await import("./bun/index.ts")).createBunRuntime();

/** The adapter for the runtime this process runs on. */
export function getRuntime(): Runtime {
  return runtime;
}
