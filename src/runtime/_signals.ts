// Signal handlers for both runtimes through node:process (works on Deno, Bun and in a
// `bun build --compile` binary; handlers do not keep the event loop alive).
//
// SIGUSR1 opens a debugger on both runtimes unless guarded: Deno (2.9.2 and later) starts V8's
// inspector on 127.0.0.1:9229 whatever JS listens, and no flag or variable turns that off; Bun
// starts its inspector (port 6499) when no JS listener is installed. No signal may ever open a
// port the config does not name, so each adapter installs its guard when it is created: on Bun
// a listener (which takes precedence over the inspector); on Deno a listener that closes the
// inspector the moment Deno has opened it (deno/signals.ts: node:inspector close(), a few ms
// later). On Deno SIGUSR1 therefore does not reload: SIGHUP does (README, Signals).
import process from "node:process";
import type { SignalName } from "./types.ts";

export function onProcessSignal(sig: SignalName, fn: () => void): () => void {
  const handler = () => fn();
  process.on(sig, handler);
  return () => {
    process.off(sig, handler);
  };
}

/** Bun: a SIGUSR1 listener of our own keeps Bun's inspector from starting. */
export function guardSigusr1Bun(): void {
  process.on("SIGUSR1", () => {});
}
