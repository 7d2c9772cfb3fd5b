// Shared test helpers: loopback servers and clients over the runtime adapter, temp dirs, and
// sluice as a child process. Waiting is done with wait.ts; every wait here has a timeout.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { getRuntime } from "../../src/runtime/detect.ts";
import type { Conn, Listener, Runtime } from "../../src/runtime/types.ts";
import { signalChild } from "./signal_child.ts";
import { waitFor } from "./wait.ts";

export const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../..");

export async function runtime(): Promise<Runtime> {
  return await getRuntime();
}

export async function tempDir(
  prefix = "sluice-test-",
): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Ports freePort() returned in this process (Bun runs every test file in one). */
const handedOut = new Set<number>();

/**
 * A free loopback port right now (bind, close, wait until connects are refused). Racy by
 * nature: use only where a fixed port is unavoidable. The port is picked below the kernel's
 * ephemeral range (32768-60999 on Linux), so no outgoing connection of this or another process
 * can take it between this call and the test's own bind (a test that rebinds the same ports
 * round after round lost one that way). Deno frees a closed listener's port one event-loop turn
 * later (its pending accept holds the socket), so we wait for the refusal. A port is never
 * handed out twice by one test process: a port is free again once closed, so two calls could
 * pick the same one (24 calls in a row did, 1 run in 30, and the test bound 23 listeners).
 */
export async function freePort(rt: Runtime, host = "127.0.0.1"): Promise<number> {
  let l: ReturnType<Runtime["listen"]> | undefined;
  for (let i = 0; i < 100 && !l; i++) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(candidate)) continue;
    try {
      l = rt.listen({ host, port: candidate }, (c) => c.close());
    } catch {
      // taken: try another
    }
  }
  l ??= rt.listen({ host, port: 0 }, (c) => c.close());
  const port = l.addr.port;
  l.close();
  // Bounded: past half the range, forget the oldest picks (a Set iterates in insertion order).
  if (handedOut.size >= 6000) handedOut.delete(handedOut.values().next().value!);
  handedOut.add(port);
  await waitFor(async () => {
    try {
      const c = await rt.connect({ host, port, timeoutMs: 500 });
      c.close();
      return false;
    } catch (err) {
      return (err as { code?: string }).code === "ECONNREFUSED";
    }
  }, {
    timeoutMs: 10_000,
    intervalMs: 10,
    maxIterations: 100,
    what: `port ${port} to become free`,
  });
  return port;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function bytes(s: string): Uint8Array {
  return enc.encode(s);
}

/** Reads until FIN (or maxBytes); returns the text. */
export async function readAll(
  c: Conn,
  o: { timeoutMs?: number; maxBytes?: number } = {},
): Promise<string> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  const signal = AbortSignal.timeout(o.timeoutMs ?? 5000);
  for (;;) {
    const chunk = await c.read({ signal });
    if (chunk === null) break;
    chunks.push(chunk.slice());
    n += chunk.length;
    if (o.maxBytes && n >= o.maxBytes) break;
  }
  return dec.decode(concat(chunks));
}

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

export interface TestServer {
  readonly port: number;
  readonly listener: Listener;
  /** Connections accepted so far */
  accepted: number;
  /** Connections open right now */
  readonly open: Set<Conn>;
  close(): void;
}

/** A loopback server running `handler` per connection (the handler owns the conn). */
export function startServer(
  rt: Runtime,
  handler: (c: Conn) => Promise<void> | void,
  host = "127.0.0.1",
): TestServer {
  const open = new Set<Conn>();
  const server: TestServer = {
    port: 0,
    listener: undefined as unknown as Listener,
    accepted: 0,
    open,
    close() {
      server.listener.close();
      for (const c of open) c.close();
      open.clear();
    },
  };
  const l = rt.listen({ host, port: 0 }, (c) => {
    server.accepted++;
    open.add(c);
    void (async () => {
      try {
        await handler(c);
      } catch { /* the test sees the effect */ }
      open.delete(c);
    })();
  });
  Object.assign(server, { port: l.addr.port, listener: l });
  return server;
}

/** Echoes every byte back; passes on FIN. */
export function startEchoServer(rt: Runtime, host = "127.0.0.1"): TestServer {
  return startServer(rt, async (c) => {
    for (;;) {
      const chunk = await c.read();
      if (chunk === null) break;
      await c.write(chunk);
    }
    await c.closeWrite().catch(() => {});
    c.close();
  }, host);
}

/** Writes `name` to each client, then echoes; identifies which backend served a connection. */
export function startNamedServer(rt: Runtime, name: string, host = "127.0.0.1"): TestServer {
  return startServer(rt, async (c) => {
    await c.write(bytes(name));
    await c.closeWrite();
    for (;;) {
      if ((await c.read()) === null) break;
    }
    c.close();
  }, host);
}

/** Connects, reads everything the server says until FIN, closes. */
export async function fetchBanner(rt: Runtime, port: number, host = "127.0.0.1"): Promise<string> {
  const c = await rt.connect({ host, port, timeoutMs: 2000 });
  try {
    await c.closeWrite();
    return await readAll(c);
  } finally {
    c.close();
  }
}

/** Resolves true if a connect succeeds, false if refused or timed out. */
export async function canConnect(rt: Runtime, port: number, host = "127.0.0.1"): Promise<boolean> {
  try {
    const c = await rt.connect({ host, port, timeoutMs: 1000 });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/** Open file descriptors of this process (Linux). */
export function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

export interface SluiceProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every stderr/stdout line so far */
  readonly lines: string[];
  /** Waits for a line matching re (bounded). */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  signal(sig: NodeJS.Signals): void;
  /** Resolves with the exit code (bounded by timeoutMs; then SIGKILL and throw). */
  exited(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL if still running. */
  kill(): void;
}

/** The command line that runs sluice's main.ts on the current runtime. */
export function sluiceCommand(rt: Runtime, args: readonly string[]): [string, string[]] {
  const main = join(ROOT, "main.ts");
  return rt.name === "deno"
    ? [process.execPath, ["run", "-A", "--unstable-net", main, ...args]]
    : [process.execPath, [main, ...args]];
}

/** Starts sluice (main.ts, or `binary` when given) as a child process. */
export function spawnSluice(
  rt: Runtime,
  args: readonly string[],
  o: { cwd?: string; env?: Record<string, string>; binary?: string } = {},
): SluiceProcess {
  const [cmd, argv] = o.binary ? [o.binary, [...args]] : sluiceCommand(rt, args);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(SLUICE|DILL|DYNTCP)_/.test(k)) env[k] = v;
  }
  const child = spawn(cmd, argv, {
    cwd: o.cwd ?? ROOT,
    env: { ...env, NO_COLOR: "1", ...o.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const onData = (buf: Buffer | string) => {
    for (const line of String(buf).split("\n")) if (line) lines.push(line);
    for (const w of waiters) w();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  let code: number | null | undefined;
  const exit = new Promise<number | null>((r) =>
    child.on("exit", (c, sig) => {
      code = c ?? (sig ? 128 : null);
      r(code);
      for (const w of waiters) w();
    })
  );
  return {
    child,
    pid: child.pid ?? -1,
    lines,
    waitForLine(re, timeoutMs = 10_000) {
      return new Promise<string>((resolve, reject) => {
        const check = () => {
          const hit = lines.find((l) => re.test(l));
          if (hit) {
            done();
            resolve(hit);
          } else if (code !== undefined) {
            done();
            reject(
              new Error(
                `sluice exited (${code}) before a line matched ${re}:\n${lines.join("\n")}`,
              ),
            );
          }
        };
        const t = setTimeout(() => {
          done();
          reject(new Error(`no line matched ${re} within ${timeoutMs} ms:\n${lines.join("\n")}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(t);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    signal(sig) {
      if (code === undefined) signalChild(child, sig);
    },
    async exited(timeoutMs = 10_000) {
      let t: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((r) => t = setTimeout(() => r("timeout"), timeoutMs));
      const r = await Promise.race([exit, timeout]);
      clearTimeout(t);
      if (r === "timeout") {
        signalChild(child, "SIGKILL");
        throw new Error(
          `sluice did not exit within ${timeoutMs} ms:\n${lines.slice(-20).join("\n")}`,
        );
      }
      return r;
    },
    kill() {
      if (code === undefined) signalChild(child, "SIGKILL");
    },
  };
}
