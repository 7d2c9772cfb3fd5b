// Signal handlers for both runtimes through node:process (works on Deno, Bun and in a
// `bun build --compile` binary; handlers do not keep the event loop alive).
import process from "node:process";
import type { SignalName } from "./types.ts";

export function onProcessSignal(sig: SignalName, fn: () => void): () => void {
  const handler = () => fn();
  process.on(sig, handler);
  return () => {
    process.off(sig, handler);
  };
}
