// Shared pieces of the fault suite: sluice as a child process with the listener settings a
// fault case needs, the child's descriptors and RSS from /proc, hashed random streams, and how
// a connection ends. Every wait is bounded; sockets are on 127.0.0.1 port 0 (or freePort()).
import { createHash, type Hash } from "node:crypto";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Conn, Runtime } from "../../src/runtime/types.ts";
import { freePort, type SluiceProcess, spawnSluice, tempDir } from "../_support/helpers.ts";
import { signalChild } from "../_support/signal_child.ts";
import { waitFor, within } from "../_support/wait.ts";

export const LO4 = "127.0.0.1";
const dec = new TextDecoder();

export interface AdminListener {
  address: string;
  state: string;
  active_connections: number;
  total_connections: number;
  refused_connections: number;
  backends: { address: string; active_connections: number; connect_failures: number }[];
}

export interface Sluice {
  readonly proc: SluiceProcess;
  readonly dir: string;
  readonly adminPort: number;
  readonly peekPort: number;
  /** Replaces routing.toml by a rename-save, as editors do. */
  writeRouting(text: string): Promise<void>;
  listeners(): Promise<AdminListener[]>;
  listener(address: string): Promise<AdminListener>;
  metrics(): Promise<string>;
  waitListening(addresses: readonly string[]): Promise<void>;
  /** Waits until the listener has no active connection (bounded). */
  waitIdle(address: string, timeoutMs?: number): Promise<void>;
  /** SIGTERM, bounded wait, then SIGKILL; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface SluiceOptions {
  rt: Runtime;
  routing: string;
  drainTimeout?: string;
  /** Opens peek on a free loopback port. */
  peek?: boolean;
  /** Extra TOML appended to the main config (whole tables only). */
  config?: string;
}

/** sluice run with a watched routing.toml, the admin API (and peek) on free loopback ports. */
export async function startSluice(o: SluiceOptions): Promise<Sluice> {
  const d = await tempDir("sluice-faults-");
  const adminPort = await freePort(o.rt);
  const peekPort = o.peek ? await freePort(o.rt) : 0;
  const routingPath = join(d.path, "routing.toml");
  await writeFile(
    join(d.path, "config.toml"),
    `[listeners]
allowed = { local = "127.0.0.1" }
port_min = 1024
port_max = 65535
drain_timeout = "${o.drainTimeout ?? "2s"}"
bind_retry = "300ms"

[admin]
listener = "127.0.0.1:${adminPort}"
${o.peek ? `\n[peek]\nlistener = "127.0.0.1:${peekPort}"\n` : ""}
[routing.file]
path = "routing.toml"
${o.config ?? ""}
`,
  );
  await writeFile(routingPath, o.routing);
  const proc = spawnSluice(o.rt, ["run", "-c", join(d.path, "config.toml")], { cwd: d.path });
  const base = `http://127.0.0.1:${adminPort}`;
  async function get(path: string): Promise<string> {
    const r = await fetch(base + path, { signal: AbortSignal.timeout(10_000) });
    const text = await r.text();
    if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${text}`);
    return text;
  }
  let stopped = false;
  const s: Sluice = {
    proc,
    dir: d.path,
    adminPort,
    peekPort,
    async writeRouting(text) {
      const tmp = join(d.path, `.routing.${Math.random().toString(36).slice(2)}.tmp`);
      await writeFile(tmp, text);
      await rename(tmp, routingPath);
    },
    async listeners() {
      return (JSON.parse(await get("/api/v1/routing")) as { listeners: AdminListener[] })
        .listeners;
    },
    async listener(address) {
      const l = (await s.listeners()).find((x) => x.address === address);
      if (!l) throw new Error(`no listener ${address}`);
      return l;
    },
    metrics: () => get("/metrics"),
    async waitListening(addresses) {
      await waitFor(async () => {
        const ls = await s.listeners();
        return addresses.every((a) => ls.some((l) => l.address === a && l.state === "listening"));
      }, {
        timeoutMs: 20_000,
        intervalMs: 100,
        what: `listeners ${addresses.join(", ")}:\n${proc.lines.slice(-20).join("\n")}`,
      });
    },
    async waitIdle(address, timeoutMs = 15_000) {
      await waitFor(async () => (await s.listener(address)).active_connections === 0, {
        timeoutMs,
        intervalMs: 100,
        what: `no active connection on ${address}`,
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      proc.signal("SIGTERM");
      await proc.exited(15_000).catch(() => proc.kill());
      await d.remove();
    },
  };
  try {
    await waitFor(() => get("/healthz").then(() => true), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: `sluice's admin API:\n${proc.lines.join("\n")}`,
    });
  } catch (err) {
    proc.kill();
    await d.remove();
    throw err;
  }
  return s;
}

/** One [[services]] block of a routing document (a backend starting with "{" is inline TOML). */
export function service(
  name: string,
  port: number,
  backends: readonly string[],
  settings = "",
): string {
  return `[[services]]
name = "${name}"
listener = "local:${port}"
backends = [${backends.map((b) => b.startsWith("{") ? b : JSON.stringify(b)).join(", ")}]
${settings}
`;
}

/** Open descriptors and resident memory (KiB) of a process, from /proc (Linux). */
export function procStats(pid: number): { fds: number; rssKiB: number } {
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return { fds, rssKiB: m ? Number(m[1]) : NaN };
}

/** A metric's value for the series whose labels include `label="value"` (first match). */
export function metricValue(text: string, name: string, label: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(name + "{") && line.includes(label)) {
      return Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return undefined;
}

/** `n` random bytes (crypto-quality, in 64 KiB pieces). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) {
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  }
  return out;
}

export function sha256(): Hash {
  return createHash("sha256");
}

export interface Ending {
  kind: "fin" | "reset" | "open";
  bytes: number;
  text: string;
}

/** Reads until the peer ends the connection: FIN, reset, or still open after `timeoutMs`. */
export async function ending(c: Conn, timeoutMs: number, keepText = 4096): Promise<Ending> {
  const signal = AbortSignal.timeout(timeoutMs);
  let bytes = 0;
  let text = "";
  for (let i = 0; i < 1_000_000; i++) {
    try {
      const chunk = await c.read({ signal });
      if (chunk === null) return { kind: "fin", bytes, text };
      bytes += chunk.length;
      if (text.length < keepText) text += dec.decode(chunk);
    } catch {
      return { kind: signal.aborted ? "open" : "reset", bytes, text };
    }
  }
  return { kind: "open", bytes, text };
}

/** Reads exactly `n` bytes (bounded) and returns them as text. */
export async function readExactly(c: Conn, n: number, timeoutMs = 15_000): Promise<string> {
  const signal = AbortSignal.timeout(timeoutMs);
  let text = "";
  for (let i = 0; i < 100_000 && text.length < n; i++) {
    const chunk = await c.read({ signal });
    if (chunk === null) throw new Error(`closed after ${JSON.stringify(text)}`);
    text += dec.decode(chunk);
  }
  return text;
}

/** A write that gives up (false) when it has not completed within `ms` (backpressure). */
export async function writeWithin(c: Conn, b: Uint8Array, ms: number): Promise<boolean> {
  try {
    await within(c.write(b), ms, "write");
    return true;
  } catch (err) {
    if (/timed out/.test(String(err))) return false;
    throw err;
  }
}

/**
 * A reason to skip (for node:test's `skip`, said loudly on stderr) when python3, which runs
 * the never-accepting listener, is missing; false when it is there.
 */
export function skipUnlessPython(): string | false {
  if (spawnSync("python3", ["-c", ""], { timeout: 10_000 }).status === 0) return false;
  const why = "python3 not installed: the never-accepting (blackholed) backend case is skipped";
  console.error(`SKIP ${why}`);
  return why;
}

export interface Helper {
  readonly child: ChildProcess;
  readonly port: number;
  /** SIGKILL (idempotent). */
  kill(): void;
}

/**
 * A Python helper process that listens on 127.0.0.1 with a listen backlog of 0 and never calls
 * accept(): once its accept queue holds one connection, the kernel drops further SYNs, so a
 * dial to it hangs until the dialer's own timeout, the way a blackholed host behaves, without
 * root, namespaces or an address outside 127.0.0.0/8. Undefined when python3 is missing.
 */
export async function startNeverAccepting(): Promise<Helper | undefined> {
  const code = "import socket,sys,time\n" +
    "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0)\n" +
    "print(s.getsockname()[1], flush=True)\n" +
    "time.sleep(600)\n";
  let child: ChildProcess;
  try {
    child = spawn("python3", ["-c", code], { stdio: ["ignore", "pipe", "inherit"] });
  } catch {
    return undefined;
  }
  const port = await within(
    new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout?.on("data", (b) => {
        out += String(b);
        if (out.includes("\n")) resolve(Number(out.trim()));
      });
      child.on("error", reject);
      child.on("exit", () => reject(new Error("python3 exited")));
    }),
    10_000,
    "the never-accepting listener",
  ).catch(() => undefined);
  if (port === undefined) {
    signalChild(child, "SIGKILL");
    return undefined;
  }
  return {
    child,
    port,
    kill() {
      if (child.exitCode === null && child.signalCode === null) signalChild(child, "SIGKILL");
    },
  };
}
