// The proxies of the churn benchmark, each behind one interface: start with the initial
// routing, apply a change the way its operators would, stop. And the accounting of a process
// tree (CPU seconds, peak memory), which includes HAProxy's and nginx's old workers.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { findExecutable, type Proc, start } from "../lib/procs.ts";
import { sleep, waitFor } from "../lib/sys.ts";
import {
  type Change,
  consulRegs,
  haproxyCfg,
  nginxConf,
  poolReg,
  type Registration,
  type Routing,
  singleReg,
  sluiceToml,
} from "./plan.ts";

export const CHURN_PROXIES = [
  "deno-file",
  "bun-file",
  "deno-consul",
  "bun-consul",
  "haproxy",
  "nginx",
] as const;
export type ChurnProxy = typeof CHURN_PROXIES[number];

export interface DriverOptions {
  readonly repoRoot: string;
  readonly dir: string;
  readonly poolPorts: readonly number[];
  readonly listenMin: number;
  readonly listenMax: number;
  readonly cpus: string | undefined;
  /** Connections the proxy must hold (for maxconn / worker_connections). */
  readonly maxConns: number;
  readonly say: (s: string) => void;
}

export interface Driver {
  readonly name: ChurnProxy;
  /** Starts the proxy with the routing (returns once the process runs; ports may still open). */
  start(r: Routing): Promise<void>;
  /** The root of the proxy's process tree. */
  readonly pid: number;
  /**
   * Applies the routing after change c; resolves with performance.now() at the moment the change
   * is in place at its source (file renamed, registration answered, config written and the
   * reload asked for or queued behind the one running).
   */
  change(r: Routing, c: Change): Promise<number>;
  /** Resolves when no reload is running or queued (bounded). */
  settled(timeoutMs: number): Promise<void>;
  /** Reloads done (HAProxy and nginx; 0 for sluice). */
  reloads(): number;
  stop(): Promise<void>;
}

/** Why a churn proxy cannot run here, or undefined. */
export function churnMissing(name: ChurnProxy, repoRoot: string): string | undefined {
  const bin = join(repoRoot, "node_modules", ".bin");
  if (name === "haproxy") return findExecutable("haproxy") ? undefined : "haproxy not installed";
  if (name === "nginx") {
    if (!findExecutable("nginx")) return "nginx not installed";
    return nginxStreamModule() ? undefined : "nginx stream module not installed";
  }
  const rt = name.startsWith("deno") ? "deno" : "bun";
  return findExecutable(rt, [bin]) ? undefined : `${rt} not found`;
}

function nginxStreamModule(): string | undefined {
  return [
    "/usr/lib/nginx/modules/ngx_stream_module.so",
    "/usr/share/nginx/modules/ngx_stream_module.so",
  ].find((p) => existsSync(p));
}

/** Atomic rename-save. */
function save(path: string, text: string): void {
  writeFileSync(path + ".tmp", text);
  renameSync(path + ".tmp", path);
}

/**
 * Serialises reloads and coalesces the ones asked for while one runs: the next reload starts
 * when the running one ends and covers every change written meanwhile.
 */
function reloader(run: () => Promise<void>, onError: (e: unknown) => void) {
  let running: Promise<void> | undefined;
  let queued = false;
  let count = 0;
  const kick = (): void => {
    if (running) {
      queued = true;
      return;
    }
    running = (async () => {
      try {
        do {
          queued = false;
          await run();
          count++;
        } while (queued);
      } catch (e) {
        onError(e);
      } finally {
        running = undefined;
      }
    })();
  };
  return {
    kick,
    count: () => count,
    async settled(timeoutMs: number) {
      const end = Date.now() + timeoutMs;
      while (running && Date.now() < end) {
        await Promise.race([running, sleep(Math.max(1, end - Date.now()))]);
      }
    },
  };
}

/** Sends one command to a Unix-socket CLI and returns its answer (bounded). */
export function unixCommand(path: string, cmd: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ path });
    let out = "";
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`${path}: no answer to "${cmd}" within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding("utf8");
    // The master CLI answers once the writing side is shut (non-interactive mode).
    s.on("connect", () => s.end(cmd + "\n"));
    s.on("data", (d) => out += d);
    s.on("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on("close", () => {
      clearTimeout(t);
      resolve(out);
    });
  });
}

async function post(url: string, body: unknown): Promise<void> {
  const r = await fetch(url, { method: "POST", body: JSON.stringify(body) });
  await r.body?.cancel();
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
}

export function createDriver(name: ChurnProxy, o: DriverOptions): Driver {
  if (name === "haproxy") return haproxyDriver(o);
  if (name === "nginx") return nginxDriver(o);
  return sluiceDriver(name, o);
}

function sluiceDriver(name: ChurnProxy, o: DriverOptions): Driver {
  const rt = name.startsWith("deno") ? "deno" : "bun";
  const viaConsul = name.endsWith("consul");
  const routing = join(o.dir, `${name}-routing.toml`);
  const config = join(o.dir, `${name}.toml`);
  const log = join(o.dir, `${name}.log`);
  let proc: Proc | undefined;
  let consul: Proc | undefined;
  let consulUrl = "";
  return {
    name,
    get pid() {
      return proc?.pid ?? 0;
    },
    async start(r) {
      const lines = [
        "[listeners]",
        `port_min = ${o.listenMin}`,
        `port_max = ${o.listenMax}`,
        'drain_timeout = "1s"',
        "[admin]",
        'listener = ""',
        "[log]",
        "access = false",
        'format = "json"',
      ];
      if (viaConsul) {
        // The emulator (tests/_support/consul_emulator.ts) in a process of its own.
        const regs = join(o.dir, `${name}-consul.json`);
        writeFileSync(regs, JSON.stringify(consulRegs(r, o.poolPorts)));
        const deno = findExecutable("deno", [join(o.repoRoot, "node_modules", ".bin")])!;
        consul = start("consul emulator", deno, [
          "run",
          "-A",
          join(o.repoRoot, "bench/churn/consul.ts"),
          regs,
        ], { cwd: o.repoRoot, stderrFile: join(o.dir, `${name}-consul.log`) });
        const line = await consul.firstLine(120_000);
        consulUrl = `http://127.0.0.1:${line.split(" ")[1]}`;
        lines.push("[routing.consul]", `address = "${consulUrl}"`);
      } else {
        save(routing, sluiceToml(r, o.poolPorts));
        lines.push("[routing.file]", `path = "${routing}"`);
      }
      writeFileSync(config, lines.join("\n") + "\n");
      const exe = findExecutable(rt, [join(o.repoRoot, "node_modules", ".bin")])!;
      const args = rt === "deno" ? ["run", "-A", "--unstable-net", "main.ts"] : ["main.ts"];
      proc = start(`sluice ${name}`, exe, [...args, "run", "-c", config], {
        ...(o.cpus ? { cpus: o.cpus } : {}),
        cwd: o.repoRoot,
        stderrFile: log,
      });
    },
    async change(r, c) {
      if (!viaConsul) {
        const text = sluiceToml(r, o.poolPorts); // the writer's work, before the clock
        save(routing, text);
        return performance.now();
      }
      if (c.kind === "add") await post(`${consulUrl}/_emu/register`, singleReg(c.port, c.backend));
      else if (c.kind === "remove") {
        await post(`${consulUrl}/_emu/deregister`, { id: `s${c.port}` });
      } else {
        const listen = o.poolPorts[c.pool]!;
        await post(`${consulUrl}/_emu/register`, poolReg(c.pool, listen, c.in));
        await post(`${consulUrl}/_emu/deregister`, { id: poolReg(c.pool, listen, c.out).id });
      }
      return performance.now();
    },
    settled: () => Promise.resolve(),
    reloads: () => 0,
    async stop() {
      await proc?.kill();
      await consul?.kill();
    },
  };
}

function haproxyDriver(o: DriverOptions): Driver {
  const cfg = join(o.dir, "haproxy.cfg");
  const master = join(o.dir, "haproxy-master.sock");
  const admin = join(o.dir, "haproxy-admin.sock");
  let proc: Proc | undefined;
  const files = { adminSocket: admin, maxconn: o.maxConns };
  // Master-worker mode with a master CLI: `reload` re-executes the master, which reads the new
  // configuration and starts a new worker; the new worker takes the listening sockets over from
  // the old one (expose-fd listeners), so no port is ever closed, and the old worker keeps
  // serving its connections until they end. HAProxy 2.6 answers `reload` before the new worker
  // is up, so the reload counts as done when the master lists a worker of the new generation.
  const gen = async (): Promise<number> => {
    const out = await unixCommand(master, "show proc", 30_000);
    // "<pid> master <reloads> [failed: N] <uptime> <version>" on the master's line.
    const m = /^\s*\d+\s+master\s+(\d+)/m.exec(out);
    return m ? Number(m[1]) : -1;
  };
  const r = reloader(async () => {
    const before = await gen();
    await unixCommand(master, "reload", 30_000);
    const ok = await waitFor(
      async () => {
        try {
          return (await gen()) > before;
        } catch {
          return false; // the master is re-executing
        }
      },
      60_000,
      5,
    );
    if (!ok) throw new Error("haproxy: the reload did not complete within 60 s");
  }, (e) => o.say(`  haproxy reload failed: ${e instanceof Error ? e.message : e}`));
  return {
    name: "haproxy",
    get pid() {
      return proc?.pid ?? 0;
    },
    start(routing) {
      save(cfg, haproxyCfg(routing, o.poolPorts, files));
      // -W master-worker, -S master CLI socket, -db stay in the foreground.
      proc = start("haproxy", findExecutable("haproxy")!, ["-W", "-db", "-S", master, "-f", cfg], {
        ...(o.cpus ? { cpus: o.cpus } : {}),
        stderrFile: join(o.dir, "haproxy.log"),
      });
      return Promise.resolve();
    },
    change(routing) {
      save(cfg, haproxyCfg(routing, o.poolPorts, files));
      const t = performance.now();
      r.kick();
      return Promise.resolve(t);
    },
    settled: (ms) => r.settled(ms),
    reloads: () => r.count(),
    async stop() {
      await proc?.kill("SIGTERM");
    },
  };
}

function nginxDriver(o: DriverOptions): Driver {
  const cfg = join(o.dir, "nginx.conf");
  const log = join(o.dir, "nginx.log");
  const nginx = findExecutable("nginx")!;
  const files = {
    module: nginxStreamModule(),
    pid: join(o.dir, "nginx.pid"),
    errorLog: log,
    // Listening sockets take connections from worker_connections too.
    connections: o.maxConns * 2 + o.listenMax - o.listenMin + 100,
  };
  let proc: Proc | undefined;
  // `nginx -s reload` (SIGHUP to the master): the master reads the configuration, opens the new
  // listening sockets (keeping the ones it already has), starts new workers and asks the old
  // ones to stop accepting and exit once their connections are done. The command returns once
  // the signal is sent; reloads are run one after another.
  const r = reloader(async () => {
    const p = start("nginx -s reload", nginx, ["-c", cfg, "-p", o.dir, "-e", log, "-s", "reload"], {
      stderrFile: log,
    });
    const t = setTimeout(() => void p.kill("SIGKILL"), 30_000);
    const code = await p.exited;
    clearTimeout(t);
    if (code !== 0) throw new Error(`nginx -s reload exited with ${code}`);
  }, (e) => o.say(`  nginx reload failed: ${e instanceof Error ? e.message : e}`));
  return {
    name: "nginx",
    get pid() {
      return proc?.pid ?? 0;
    },
    start(routing) {
      save(cfg, nginxConf(routing, o.poolPorts, files));
      proc = start("nginx", nginx, ["-c", cfg, "-p", o.dir, "-e", log], {
        ...(o.cpus ? { cpus: o.cpus } : {}),
        stderrFile: log,
      });
      return Promise.resolve();
    },
    change(routing) {
      save(cfg, nginxConf(routing, o.poolPorts, files));
      const t = performance.now();
      r.kick();
      return Promise.resolve(t);
    },
    settled: (ms) => r.settled(ms),
    reloads: () => r.count(),
    async stop() {
      await proc?.kill("SIGTERM");
    },
  };
}

// --- Process tree accounting -------------------------------------------------------------

interface Stat {
  ppid: number;
  /** utime + stime + cutime + cstime, in ticks: children reaped by a process count in it. */
  ticks: number;
}

function readStat(pid: number): Stat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return {
      ppid: Number(f[1]),
      ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]),
    };
  } catch {
    return undefined;
  }
}

/** Children of a process, from /proc/PID/task/TID/children (no scan of all of /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim();
      if (text) { for (const c of text.split(" ")) out.push(Number(c)); }
    } catch { /* the thread ended */ }
  }
  return out;
}

/**
 * The root and every descendant alive now. Walks down from the root: scanning all of /proc
 * took 10-25 ms on a busy machine, which delayed the probes sharing this event loop.
 */
export function tree(root: number): number[] {
  const out: number[] = [];
  const todo = [root];
  while (todo.length && out.length < 10_000) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...childrenOf(p));
  }
  return out;
}

/**
 * CPU ticks of a process tree: every live process's own time plus what it has reaped (cutime),
 * so a worker that exited still counts once its parent has waited for it.
 */
export function treeTicks(pids: readonly number[]): number {
  let t = 0;
  for (const p of pids) t += readStat(p)?.ticks ?? 0;
  return t;
}

export function treeRssKiB(pids: readonly number[]): number {
  let sum = 0;
  for (const p of pids) {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) sum += Number(m[1]);
    } catch { /* gone */ }
  }
  return sum;
}

/** Proportional set size: shared pages (forked workers) split between their sharers. */
export function treePssKiB(pids: readonly number[]): number {
  let sum = 0;
  for (const p of pids) {
    try {
      const m = /^Pss:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, "utf8"));
      if (m) sum += Number(m[1]);
    } catch { /* gone */ }
  }
  return sum;
}

/** CPU ticks (utime + stime + cutime + cstime) of this process: its reaped children count. */
export function selfChildTicks(): number {
  const s = readFileSync("/proc/self/stat", "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[13]) + Number(f[14]);
}

/** Registrations for the emulator, exported for consul.ts. */
export type { Registration };
