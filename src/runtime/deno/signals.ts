// Signals on Deno: through node:process as on Bun (../_signals.ts), except SIGUSR1, which
// Deno 2.9.2+ answers by opening V8's inspector: the guard closes it at once, and SIGUSR1 is
// never handed to sluice (it does not reload on Deno).
import inspector from "node:inspector";
import process from "node:process";
import { createLogger } from "../../log.ts";
import { onProcessSignal } from "../_signals.ts";
import type { SignalName } from "../types.ts";

const log = createLogger("runtime");

/** How long after a SIGUSR1 Deno's inspector is looked for (it opens within a few ms). */
const INSPECTOR_WATCH_MS = 2000;

function closeInspector(): boolean {
  try {
    if (!inspector.url()) return false;
    inspector.close();
  } catch {
    return false;
  }
  log.warn("SIGUSR1: closed the debugger that Deno opened for it");
  return true;
}

/**
 * Deno 2.9.2+ opens V8's inspector on SIGUSR1 whatever JS listens, with no way to turn it off
 * (see _signals.ts): close it as soon as it is open, polling every 1 ms after the signal.
 */
export function guardSigusr1(): void {
  process.on("SIGUSR1", () => {
    log.warn("SIGUSR1 does not reload on Deno (it is Deno's debugger signal); send SIGHUP");
    if (closeInspector()) return;
    const until = Date.now() + INSPECTOR_WATCH_MS;
    const t = setInterval(() => {
      if (closeInspector() || Date.now() > until) clearInterval(t);
    }, 1);
    Deno.unrefTimer(t);
  });
}

/** SIGUSR1 does not reload on Deno (it is the debugger's signal there): SIGHUP does. */
export function onSignal(sig: SignalName, fn: () => void): () => void {
  return sig === "SIGUSR1" ? () => {} : onProcessSignal(sig, fn);
}
