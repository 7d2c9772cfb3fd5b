// runtime.workers > 1: the first process (the primary) starts N-1 copies of itself; every
// process binds the same listeners with SO_REUSEPORT and the kernel spreads connections over
// them, so each core runs an event loop. Only the primary serves peek and the admin API; it asks
// each worker over an IPC channel (node:child_process "ipc", the same on Deno and Bun) for its
// listeners and counters and forwards drains to it (src/cli/group.ts, worker_link.ts), so the
// admin API, peek and /metrics show the whole group.
//
// A worker that exits unexpectedly is logged (warn, with its code or signal) and restarted
// after 1 s; the admin API keeps answering meanwhile and shows it as down (`/api/v1/workers`,
// `sluice_worker_up`). Its counters restart from zero with the new process.
import { type ChildProcess, spawn } from "node:child_process";
import { basename } from "node:path";
import process from "node:process";
import type { Logger } from "../log.ts";
import type { Runtime, SignalName } from "../runtime/types.ts";
import type { LinkReply, LinkRequest } from "./worker_link.ts";

/** Set in a worker's environment: its index (1..N-1). */
const WORKER_ENV = "SLUICE_WORKER_INDEX";

/** How long the primary waits for a worker's answer before reporting it as not answering. */
const ASK_TIMEOUT_MS = 3000;

export function workerIndex(): number {
  return Number(process.env[WORKER_ENV] ?? "0") || 0;
}

/** The command that runs this same program again with the same arguments. */
function selfCommand(rt: Runtime): [string, string[]] {
  const args = process.argv.slice(2);
  const exe = process.execPath;
  const script = process.argv[1] ?? "";
  if (rt.name === "deno" && /^deno(\.exe)?$/.test(basename(exe))) {
    return [exe, ["run", "-A", "--unstable-net", script, ...args]];
  }
  if (rt.name === "bun" && /^bun(\.exe)?$/.test(basename(exe))) return [exe, [script, ...args]];
  return [exe, args]; // a compiled single-file executable
}

/** One worker as the primary knows it. */
export interface WorkerInfo {
  /** 1..N-1 (the primary is worker 0) */
  readonly index: number;
  /** The current process, undefined between an exit and the restart. */
  readonly pid: number | undefined;
  readonly alive: boolean;
  /** Restarts after unexpected exits. */
  readonly restarts: number;
  /** How the last process ended, e.g. "signal SIGKILL" or "code 1". */
  readonly lastExit: string | undefined;
}

/** A worker's answer, or why there is none. */
export type AskResult =
  | { readonly index: number; readonly ok: true; readonly reply: LinkReply }
  | { readonly index: number; readonly ok: false; readonly error: string };

export interface WorkerPool {
  /** Sends `req` to every worker; resolves with each one's answer (bounded by ASK_TIMEOUT_MS). */
  ask(req: LinkRequest): Promise<AskResult[]>;
  workers(): WorkerInfo[];
  stop(): Promise<void>;
}

interface Slot {
  index: number;
  child: ChildProcess | undefined;
  restarts: number;
  lastExit: string | undefined;
  /** The worker said hello over IPC: it answers questions (until it exits). */
  linked: boolean;
  pending: Map<number, (r: AskResult) => void>;
}

/** Starts `count` workers, forwards reload signals, restarts a worker that dies unexpectedly. */
export function startWorkers(o: { rt: Runtime; count: number; log: Logger }): WorkerPool {
  const [cmd, args] = selfCommand(o.rt);
  const slots = new Map<number, Slot>();
  let stopping = false;
  let nextId = 1;

  const start = (slot: Slot) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, [WORKER_ENV]: String(slot.index) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    slot.child = child;
    o.log.info("worker started", { worker: slot.index, pid: child.pid });
    child.on("message", (m: unknown) => {
      if ((m as { hello?: unknown } | undefined)?.hello !== undefined) {
        slot.linked = slot.child === child;
        return;
      }
      const r = m as LinkReply | undefined;
      if (!r || typeof r.id !== "number") return;
      slot.pending.get(r.id)?.({ index: slot.index, ok: true, reply: r });
    });
    // A channel error must never reach the primary's event loop as an uncaught error.
    child.on("error", (err) => o.log.warn("worker channel error", { worker: slot.index, err }));
    child.on("exit", (code, signal) => {
      if (slot.child === child) {
        slot.child = undefined;
        slot.linked = false;
      }
      const how = signal ? `signal ${signal}` : `code ${code}`;
      for (const done of [...slot.pending.values()]) {
        done({ index: slot.index, ok: false, error: `worker exited (${how})` });
      }
      if (stopping) return;
      slot.lastExit = how;
      slot.restarts++;
      o.log.warn("worker exited: restarting in 1s", {
        worker: slot.index,
        pid: child.pid,
        code,
        signal,
      });
      setTimeout(() => !stopping && !slot.child && start(slot), 1000);
    });
  };
  for (let i = 1; i <= o.count; i++) {
    const slot: Slot = {
      index: i,
      child: undefined,
      restarts: 0,
      lastExit: undefined,
      linked: false,
      pending: new Map(),
    };
    slots.set(i, slot);
    start(slot);
  }

  function askOne(slot: Slot, req: LinkRequest): Promise<AskResult> {
    const child = slot.child;
    if (!child || !child.connected) {
      return Promise.resolve({ index: slot.index, ok: false, error: "worker not running" });
    }
    // Not asked before its hello: a worker still starting (or one without IPC) costs no wait.
    if (!slot.linked) {
      return Promise.resolve({ index: slot.index, ok: false, error: "worker starting" });
    }
    const id = nextId++;
    return new Promise<AskResult>((resolve) => {
      const timer = setTimeout(() =>
        finish({
          index: slot.index,
          ok: false,
          error: `no answer within ${ASK_TIMEOUT_MS} ms`,
        }), ASK_TIMEOUT_MS);
      function finish(r: AskResult) {
        clearTimeout(timer);
        slot.pending.delete(id);
        resolve(r);
      }
      slot.pending.set(id, finish);
      try {
        child.send({ ...req, id }, (err) => {
          if (err) finish({ index: slot.index, ok: false, error: String(err.message ?? err) });
        });
      } catch (err) {
        finish({ index: slot.index, ok: false, error: String((err as Error)?.message ?? err) });
      }
    });
  }

  const forward = (sig: SignalName) =>
    o.rt.onSignal(sig, () => {
      for (const s of slots.values()) s.child?.kill(sig);
    });
  const offs = [forward("SIGHUP"), forward("SIGUSR1")];
  return {
    ask: (req) => Promise.all([...slots.values()].map((s) => askOne(s, req))),
    workers: () =>
      [...slots.values()].map((s) => ({
        index: s.index,
        pid: s.child?.pid,
        alive: s.child !== undefined && s.child.exitCode === null && s.child.signalCode === null,
        restarts: s.restarts,
        lastExit: s.lastExit,
      })),
    async stop() {
      stopping = true;
      for (const off of offs) off();
      const exits = [...slots.values()].flatMap((s) => s.child ? [s.child] : []).map((c) =>
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
