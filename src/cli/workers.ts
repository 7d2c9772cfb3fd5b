// runtime.workers > 1: the first process starts N-1 copies of itself; every process binds the
// same listeners with SO_REUSEPORT and the kernel spreads connections over them, so each core
// runs an event loop. Only the first process serves peek and the admin API, so the counters
// there are that process's share (documented in the README).
import { type ChildProcess, spawn } from "node:child_process";
import { basename } from "node:path";
import process from "node:process";
import type { Logger } from "../log.ts";
import type { Runtime, SignalName } from "../runtime/types.ts";

/** Set in a worker's environment: its index (1..N-1). */
export const WORKER_ENV = "SLUICE_WORKER_INDEX";

export function workerIndex(): number {
  return Number(process.env[WORKER_ENV] ?? "0") || 0;
}

/** The command that runs this same program again with the same arguments. */
export function selfCommand(rt: Runtime): [string, string[]] {
  const args = process.argv.slice(2);
  const exe = process.execPath;
  const script = process.argv[1] ?? "";
  if (rt.name === "deno" && /^deno(\.exe)?$/.test(basename(exe))) {
    return [exe, ["run", "-A", "--unstable-net", script, ...args]];
  }
  if (rt.name === "bun" && /^bun(\.exe)?$/.test(basename(exe))) return [exe, [script, ...args]];
  return [exe, args]; // a compiled single-file executable
}

export interface WorkerPool {
  stop(): Promise<void>;
}

/** Starts `count` workers, forwards reload signals, restarts a worker that dies unexpectedly. */
export function startWorkers(o: { rt: Runtime; count: number; log: Logger }): WorkerPool {
  const [cmd, args] = selfCommand(o.rt);
  const children = new Map<number, ChildProcess>();
  let stopping = false;
  const start = (index: number) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, [WORKER_ENV]: String(index) },
      stdio: ["ignore", "inherit", "inherit"],
    });
    children.set(index, child);
    o.log.info("worker started", { worker: index, pid: child.pid });
    child.on("exit", (code, signal) => {
      children.delete(index);
      if (stopping) return;
      o.log.warn("worker exited: restarting in 1s", { worker: index, code, signal });
      setTimeout(() => !stopping && start(index), 1000);
    });
  };
  for (let i = 1; i <= o.count; i++) start(i);
  const forward = (sig: SignalName) =>
    o.rt.onSignal(sig, () => {
      for (const c of children.values()) c.kill(sig);
    });
  const offs = [forward("SIGHUP"), forward("SIGUSR1")];
  return {
    async stop() {
      stopping = true;
      for (const off of offs) off();
      const exits = [...children.values()].map((c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once("exit", () => r());
          c.kill("SIGTERM");
        })
      );
      await Promise.all(exits);
    },
  };
}
