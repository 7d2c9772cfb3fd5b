// Child processes of the benchmark: every one is registered by PID and killed at the end, also
// on Ctrl-C or an error. CPU pinning goes through taskset, which execs, so the PID we hold is
// the program's own (its /proc/PID/status is the one measured).
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, openSync } from "node:fs";
import { delimiter, join } from "node:path";
import process from "node:process";
import { signalChild } from "../../tests/_support/signal_child.ts";

export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the first stdout line (bounded by timeoutMs). */
  firstLine(timeoutMs: number): Promise<string>;
  /** Everything printed on stdout so far. */
  stdout(): string;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  kill(sig?: NodeJS.Signals): Promise<void>;
}

const live = new Map<number, Proc>();

export interface StartOptions {
  /** CPU list for taskset ("0", "1", "0-1"); absent = not pinned. */
  cpus?: string;
  env?: Record<string, string>;
  cwd?: string;
  /** File that receives stderr (default: discarded). */
  stderrFile?: string;
  /** Keep stdin open as a pipe (the idle holder waits for it to close). */
  stdinPipe?: boolean;
}

export function findExecutable(name: string, extraDirs: string[] = []): string | undefined {
  const dirs = [...extraDirs, ...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin"];
  for (const d of dirs) {
    const p = join(d, name);
    if (d && existsSync(p)) return p;
  }
  return undefined;
}

let tasksetPath: string | undefined | null = null;

export function start(name: string, cmd: string, args: string[], o: StartOptions = {}): Proc {
  if (tasksetPath === null) tasksetPath = findExecutable("taskset");
  const pinned = o.cpus !== undefined && tasksetPath !== undefined;
  const file = pinned ? tasksetPath! : cmd;
  const argv = pinned ? ["-c", o.cpus!, cmd, ...args] : args;
  const err = o.stderrFile ? openSync(o.stderrFile, "a") : "ignore";
  const child = spawn(file, argv, {
    cwd: o.cwd,
    // No Deno update check (a DNS query and a thread while it is measured).
    env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", ...o.env },
    stdio: [o.stdinPipe ? "pipe" : "ignore", "pipe", err],
  });
  if (child.pid === undefined) throw new Error(`Cannot start ${name}: spawn ${cmd} gave no PID`);
  let out = "";
  const waiters: Array<() => void> = [];
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => {
    out += d;
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => {
      live.delete(child.pid!);
      for (const w of waiters.splice(0)) w();
      resolve(code);
    });
    child.on("error", () => resolve(null));
  });
  const proc: Proc = {
    name,
    pid: child.pid,
    child,
    exited,
    stdout: () => out,
    firstLine(timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`${name} (pid ${child.pid}) printed no line within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          const i = out.indexOf("\n");
          if (i >= 0) {
            clearTimeout(timer);
            resolve(out.slice(0, i));
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            reject(
              new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before a line`),
            );
          } else waiters.push(check);
        };
        check();
      });
    },
    async kill(sig = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalChild(child, sig);
      const t = setTimeout(() => signalChild(child, "SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    },
  };
  live.set(child.pid, proc);
  return proc;
}

/** Runs a command to its end (bounded) and returns its stdout. */
export async function run(
  name: string,
  cmd: string,
  args: string[],
  o: StartOptions & { timeoutMs: number },
): Promise<string> {
  const p = start(name, cmd, args, o);
  const t = setTimeout(() => p.kill("SIGKILL"), o.timeoutMs);
  const code = await p.exited;
  clearTimeout(t);
  if (code !== 0) throw new Error(`${name} exited with ${code}: ${p.stdout().slice(0, 500)}`);
  return p.stdout();
}

/** Kills every process still running, by PID. */
export async function killAll(): Promise<void> {
  await Promise.all([...live.values()].map((p) => p.kill()));
}

let hooked = false;
/** Ctrl-C, SIGTERM and uncaught errors kill the children before exiting. */
export function killOnExit(): void {
  if (hooked) return;
  hooked = true;
  const bail = (code: number) => {
    void killAll().finally(() => process.exit(code));
  };
  process.on("SIGINT", () => bail(130));
  process.on("SIGTERM", () => bail(143));
  process.on("uncaughtException", (e) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.stack : e}\n`);
    bail(1);
  });
}
