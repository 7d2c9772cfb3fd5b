// Signals a child process by PID. Deno's node:child_process delivers only the first signal sent
// with child.kill() (it then marks the child killed and drops the rest), so SIGHUP followed by
// SIGTERM, or SIGTERM followed by SIGKILL, would silently lose the second one there.
import type { ChildProcess } from "node:child_process";
import process from "node:process";

/** Sends sig to child if it is still running; never throws. */
export function signalChild(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  try {
    process.kill(child.pid, sig);
  } catch {
    // Already gone between the check and the kill.
  }
}
