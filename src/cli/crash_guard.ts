// A proxy that carries other people's traffic must not die of one bug in one code path: an
// unhandled promise rejection or an uncaught exception is logged as an internal error and the
// process keeps serving (listeners, open connections and providers are independent of the code
// that failed). Installed only by `sluice run`; tests and tools keep the runtime's default.
import process from "node:process";
import { errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";

/** Installs the guard; returns the function that removes it. */
export function installCrashGuard(log: Logger): () => void {
  const report = (kind: string) => (err: unknown) => {
    log.error(`internal error (${kind}); sluice keeps running`, {
      error: errorMessage(err),
      stack: err instanceof Error ? err.stack?.split("\n").slice(1, 6).join(" | ") : undefined,
    });
  };
  const onRejection = report("unhandled rejection");
  const onException = report("uncaught exception");
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
  return () => {
    process.off("unhandledRejection", onRejection);
    process.off("uncaughtException", onException);
  };
}
