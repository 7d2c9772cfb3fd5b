// The systems under test, each with one echo listener and one bulk listener in front of the
// same backends: HAProxy (mode tcp, one thread), nginx (stream, one worker, proxy_half_close),
// sluice on Deno and on Bun, and the direct path (no proxy) as the physical limit.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findExecutable, type Proc, start } from "./procs.ts";
import { echoes, freePort, sleep, waitFor } from "./sys.ts";

export const ALL_TARGETS = ["direct", "haproxy", "nginx", "deno", "bun"] as const;
export type TargetName = typeof ALL_TARGETS[number];

export interface Backends {
  readonly echoPort: number;
  readonly bulkPort: number;
  readonly bulkKind: "iperf3" | "sink";
}

export interface Target {
  readonly name: TargetName;
  readonly echoPort: number;
  readonly bulkPort: number;
  /** The process that carries the connections (nginx: its worker); none for direct. */
  readonly pid: number | undefined;
  /** Extra worker processes (sluice runtime.workers > 1), for CPU accounting. */
  readonly extraPids: () => number[];
  stop(): Promise<void>;
}

export interface TargetOptions {
  readonly dir: string;
  readonly repoRoot: string;
  /** CPU list for the proxy process. */
  readonly cpus: string | undefined;
  /** Connections the proxy must hold at once (idle test), bounded by the fd limit. */
  readonly maxConns: number;
  /** sluice runtime.workers. */
  readonly workers?: number;
  /** haproxy nbthread / nginx worker_processes. */
  readonly threads?: number;
  /** sluice: the whole program (main.ts run --forward) or only its data path (engine_only.ts). */
  readonly entry?: "main" | "engine" | "bare";
}

/** Why a target cannot run here, or undefined when it can. */
export function missing(name: TargetName, repoRoot: string): string | undefined {
  const bin = join(repoRoot, "node_modules", ".bin");
  switch (name) {
    case "direct":
      return undefined;
    case "haproxy":
      return findExecutable("haproxy") ? undefined : "haproxy not installed";
    case "nginx":
      if (!findExecutable("nginx")) return "nginx not installed";
      return nginxStreamModule() !== undefined ? undefined : "nginx stream module not installed";
    case "deno":
      return findExecutable("deno", [bin]) ? undefined : "deno not found";
    case "bun":
      return findExecutable("bun", [bin]) ? undefined : "bun not found";
  }
}

/** The stream module's .so path (Debian: libnginx-mod-stream), else undefined. */
function nginxStreamModule(): string | undefined {
  for (
    const p of [
      "/usr/lib/nginx/modules/ngx_stream_module.so",
      "/usr/share/nginx/modules/ngx_stream_module.so",
    ]
  ) {
    if (existsSync(p)) return p;
  }
  return undefined;
}

async function ready(name: string, port: number, proc: Proc | undefined): Promise<void> {
  const ok = await waitFor(
    async () => {
      if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
        throw new Error(
          `${name} exited early (code ${proc.child.exitCode ?? proc.child.signalCode})`,
        );
      }
      return await echoes(port, 500);
    },
    20_000,
    100,
  );
  if (!ok) throw new Error(`${name}: port ${port} did not echo within 20 s`);
}

/** Direct children of a process (from /proc/*\/stat). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      if (Number(f[1]) === pid) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

export async function startTarget(
  name: TargetName,
  be: Backends,
  o: TargetOptions,
): Promise<Target> {
  if (name === "direct") {
    return {
      name,
      echoPort: be.echoPort,
      bulkPort: be.bulkPort,
      pid: undefined,
      extraPids: () => [],
      stop: () => Promise.resolve(),
    };
  }
  const echoPort = await freePort();
  const bulkPort = await freePort();
  const log = join(o.dir, `${name}.log`);
  let proc: Proc;
  let pid: () => number;
  if (name === "haproxy") {
    const cfg = join(o.dir, "haproxy.cfg");
    writeFileSync(
      cfg,
      [
        "global",
        `  nbthread ${o.threads ?? 1}`,
        `  maxconn ${o.maxConns}`,
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 1h",
        "  timeout server 1h",
        "listen echo",
        `  bind 127.0.0.1:${echoPort}`,
        `  server s1 127.0.0.1:${be.echoPort}`,
        "listen bulk",
        `  bind 127.0.0.1:${bulkPort}`,
        `  server s1 127.0.0.1:${be.bulkPort}`,
        "",
      ].join("\n"),
    );
    proc = start(name, findExecutable("haproxy")!, ["-f", cfg, "-db"], {
      ...(o.cpus ? { cpus: o.cpus } : {}),
      stderrFile: log,
    });
    pid = () => proc.pid;
  } else if (name === "nginx") {
    const cfg = join(o.dir, "nginx.conf");
    const mod = nginxStreamModule();
    writeFileSync(
      cfg,
      [
        mod ? `load_module ${mod};` : "",
        "daemon off;",
        `worker_processes ${o.threads ?? 1};`,
        "worker_rlimit_nofile 20000;",
        `pid ${join(o.dir, "nginx.pid")};`,
        `error_log ${log} warn;`,
        `events { worker_connections ${Math.min(19_900, o.maxConns * 2 + 100)}; }`,
        "stream {",
        `  server { listen 127.0.0.1:${echoPort}; proxy_pass 127.0.0.1:${be.echoPort}; proxy_half_close on; }`,
        `  server { listen 127.0.0.1:${bulkPort}; proxy_pass 127.0.0.1:${be.bulkPort}; proxy_half_close on; }`,
        "}",
        "",
      ].join("\n"),
    );
    proc = start(name, findExecutable("nginx")!, ["-c", cfg, "-p", o.dir, "-e", log], {
      ...(o.cpus ? { cpus: o.cpus } : {}),
      stderrFile: log,
    });
    // The master only supervises: the worker carries the connections and is what we measure.
    let worker = 0;
    await waitFor(
      () => {
        worker = childrenOf(proc.pid)[0] ?? 0;
        return worker > 0;
      },
      10_000,
      50,
    );
    if (!worker) throw new Error("nginx: no worker process appeared");
    pid = () => worker;
  } else {
    const bin = join(o.repoRoot, "node_modules", ".bin");
    const exe = findExecutable(name, [bin])!;
    const entry = o.entry === "engine"
      ? "bench/profile/engine_only.ts"
      : o.entry === "bare"
      ? "bench/profile/bare_relay.ts"
      : "main.ts";
    const args = name === "deno" ? ["run", "-A", "--unstable-net", entry] : [entry];
    if (o.entry === "engine" || o.entry === "bare") {
      args.push(String(echoPort), String(be.echoPort), String(bulkPort), String(be.bulkPort));
    } else {
      args.push(
        "run",
        "--forward",
        `${echoPort}:127.0.0.1:${be.echoPort}`,
        "--forward",
        `${bulkPort}:127.0.0.1:${be.bulkPort}`,
      );
    }
    proc = start(name, exe, args, {
      ...(o.cpus ? { cpus: o.cpus } : {}),
      cwd: o.repoRoot,
      stderrFile: log,
      env: {
        SLUICE_ADMIN_LISTENER: "",
        SLUICE_LISTENERS_PORT_MAX: "65535",
        SLUICE_LOG_ACCESS: "false",
        SLUICE_LISTENERS_DRAIN_TIMEOUT: "1s",
        SLUICE_RUNTIME_WORKERS: String(o.workers ?? 1),
      },
    });
    pid = () => proc.pid;
  }
  try {
    await ready(name, echoPort, proc);
  } catch (e) {
    await proc.kill();
    let tail = "";
    try {
      tail = readFileSync(log, "utf8").slice(-1500);
    } catch { /* no log */ }
    throw new Error(`${e instanceof Error ? e.message : e}\n--- ${log} ---\n${tail}`);
  }
  await sleep(300);
  const main = pid();
  return {
    name,
    echoPort,
    bulkPort,
    pid: main,
    extraPids: () => (name === "deno" || name === "bun") ? childrenOf(main) : [],
    async stop() {
      await proc.kill("SIGTERM");
    },
  };
}
