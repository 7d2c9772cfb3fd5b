// Soak: sluice on Deno and on Bun at once, for 30 minutes by default, under mixed traffic
// (long streams checked with SHA-256 both ways and half-closed, short connections, failed
// dials), routing churn (listeners added and removed, the busy pool changed) and SIGHUPs.
// Every interval it prints, per runtime, sluice's open descriptors and RSS (from /proc), its
// active connections (admin API), and the errors seen so far (broken or corrupted streams,
// failed short connections, ERROR lines in sluice's log). Not part of CI.
//
//   deno task soak [--duration 30m] [--interval 1m] [--runtimes deno,bun] [--streams 8]
//                  [--shorts-per-second 40] [--churn 10s] [--sighup 30s]
//
// Exit code 0 when no byte was lost or corrupted, no stream broke, and both processes lived
// to the end and exited cleanly on SIGTERM; 1 otherwise.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const LO = "127.0.0.1";

// ---------------------------------------------------------------- flags

function duration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${text} (e.g. 90s, 30m, 2h)`);
  const n = Number(m[1]);
  return n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"] ?? 1000);
}

function flags(argv: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-h" || a === "--help") {
      process.stdout.write(
        readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n")
          .filter((l) => l.startsWith("//")).map((l) => l.slice(3)).join("\n") + "\n",
      );
      process.exit(0);
    }
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf("=");
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else out[a.slice(2)] = argv[++i] ?? "";
  }
  return out;
}

const f = flags(process.argv.slice(2));
const DURATION = duration(f.duration ?? "30m");
const INTERVAL = duration(f.interval ?? "1m");
const RUNTIMES = (f.runtimes ?? "deno,bun").split(",").filter(Boolean) as ("deno" | "bun")[];
const STREAMS = Number(f.streams ?? 8);
const SHORTS_PER_SECOND = Number(f["shorts-per-second"] ?? 40);
const CHURN = duration(f.churn ?? "10s");
const SIGHUP = duration(f.sighup ?? "30s");

// ---------------------------------------------------------------- small helpers

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, LO, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** An echo server that passes a half-close on (allowHalfOpen + pipe). */
async function echoServer(): Promise<{ port: number; close(): void }> {
  const socks = new Set<net.Socket>();
  const s = net.createServer({ allowHalfOpen: true }, (c) => {
    socks.add(c);
    c.on("error", () => c.destroy());
    c.on("close", () => socks.delete(c));
    c.pipe(c);
  });
  await new Promise<void>((r) => s.listen(0, LO, r));
  return {
    port: (s.address() as net.AddressInfo).port,
    close() {
      s.close();
      for (const c of socks) c.destroy();
    },
  };
}

function connect(port: number, timeoutMs = 10_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: LO, port, allowHalfOpen: true });
    const t = setTimeout(() => {
      c.destroy();
      reject(new Error("connect timeout"));
    }, timeoutMs);
    c.once("connect", () => {
      clearTimeout(t);
      resolve(c);
    });
    c.once("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

function procStats(pid: number): { fds: number; rssMiB: number } {
  try {
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return { fds, rssMiB: m ? Math.round(Number(m[1]) / 1024) : NaN };
  } catch {
    return { fds: NaN, rssMiB: NaN };
  }
}

// ---------------------------------------------------------------- one sluice under load

interface Stats {
  streamsDone: number;
  streamBytes: number;
  streamErrors: number;
  shortsDone: number;
  shortErrors: number;
  dialsDone: number;
  dialErrors: number;
  reloads: number;
  sighups: number;
  errorLines: string[];
}

class Target {
  readonly stats: Stats = {
    streamsDone: 0,
    streamBytes: 0,
    streamErrors: 0,
    shortsDone: 0,
    shortErrors: 0,
    dialsDone: 0,
    dialErrors: 0,
    reloads: 0,
    sighups: 0,
    errorLines: [],
  };
  child!: ChildProcess;
  dir = "";
  adminPort = 0;
  busy = 0;
  dead = 0;
  closed = 0;
  extras: number[] = [];
  a!: { port: number; close(): void };
  b!: { port: number; close(): void };
  exitCode: number | null | undefined = undefined;
  stopping = false;

  constructor(readonly rt: "deno" | "bun") {}

  routing(round: number): string {
    const svc = (name: string, port: number, backends: string[], extra = "") =>
      `[[services]]\nname = "${name}"\nlistener = "local:${port}"\nbackends = [${
        backends.map((x) => JSON.stringify(x)).join(", ")
      }]\n${extra}\n`;
    const pool = round % 2 === 0 ? [`${LO}:${this.a.port}`] : [
      `${LO}:${this.a.port}`,
      `${LO}:${this.b.port}`,
    ];
    let doc = svc("busy", this.busy, pool);
    doc += svc("dead", this.dead, [`${LO}:${this.closed}`], "connect_attempts = 1");
    this.extras.forEach((p, k) => {
      if ((round + k) % 3 !== 0) doc += svc(`extra-${k}`, p, [`${LO}:${this.a.port}`]);
    });
    return doc;
  }

  async writeRouting(round: number): Promise<void> {
    const tmp = join(this.dir, ".routing.tmp");
    await writeFile(tmp, this.routing(round));
    await rename(tmp, join(this.dir, "routing.toml"));
    this.stats.reloads++;
  }

  async start(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), `sluice-soak-${this.rt}-`));
    this.a = await echoServer();
    this.b = await echoServer();
    this.adminPort = await freePort();
    this.busy = await freePort();
    this.dead = await freePort();
    this.closed = await freePort();
    for (let i = 0; i < 6; i++) this.extras.push(await freePort());
    await writeFile(
      join(this.dir, "config.toml"),
      `[listeners]\nallowed = { local = "127.0.0.1" }\nport_min = 1024\nport_max = 65535\n` +
        `drain_timeout = "5s"\nbind_retry = "500ms"\n\n[admin]\nlistener = "${LO}:${this.adminPort}"\n\n` +
        `[log]\naccess = false\n\n[routing.file]\npath = "routing.toml"\n`,
    );
    await this.writeRouting(0);
    const main = join(ROOT, "main.ts");
    const cfg = join(this.dir, "config.toml");
    const [cmd, argv] = this.rt === "deno"
      ? [join(ROOT, "node_modules/.bin/deno"), [
        "run",
        "-A",
        "--unstable-net",
        main,
        "run",
        "-c",
        cfg,
      ]]
      : [join(ROOT, "node_modules/.bin/bun"), [main, "run", "-c", cfg]];
    const env: Record<string, string> = { NO_COLOR: "1" };
    for (const [k, v] of Object.entries(process.env)) {
      if (v !== undefined && !k.startsWith("SLUICE_") && !k.startsWith("DILL_")) env[k] = v;
    }
    this.child = spawn(cmd, argv, { cwd: this.dir, env, stdio: ["ignore", "pipe", "pipe"] });
    const onLine = (buf: Buffer) => {
      for (const line of String(buf).split("\n")) {
        if (/^\S+\s+(ERROR|FATAL)\b|panicked|Uncaught/.test(line)) {
          this.stats.errorLines.push(line);
          if (this.stats.errorLines.length > 200) this.stats.errorLines.shift();
        }
      }
    };
    this.child.stdout?.on("data", onLine);
    this.child.stderr?.on("data", onLine);
    this.child.on("exit", (code, sig) => (this.exitCode = code ?? (sig ? 128 : null)));
    for (let i = 0; i < 200; i++) {
      if (this.exitCode !== undefined) throw new Error(`${this.rt}: sluice exited at start`);
      try {
        await this.listeners();
        break;
      } catch {
        await delay(100);
      }
    }
  }

  async listeners(): Promise<{ address: string; active_connections: number }[]> {
    const r = await fetch(`http://${LO}:${this.adminPort}/api/v1/routing`, {
      signal: AbortSignal.timeout(5000),
    });
    return ((await r.json()) as { listeners: { address: string; active_connections: number }[] })
      .listeners;
  }

  /** One stream: random bytes for a random while, half-close, all echoed back unchanged. */
  async stream(running: () => boolean): Promise<void> {
    const c = await connect(this.busy);
    const sent = createHash("sha256");
    const got = createHash("sha256");
    let sentBytes = 0, gotBytes = 0;
    const done = new Promise<void>((resolve, reject) => {
      c.on("data", (d: Buffer) => {
        got.update(d);
        gotBytes += d.length;
      });
      c.on("end", () => resolve());
      c.on("error", reject);
      c.on("close", () => resolve());
    });
    const until = Date.now() + 5_000 + Math.random() * 25_000;
    const buf = Buffer.alloc(32 * 1024);
    try {
      while (Date.now() < until && running() && !c.destroyed) {
        const n = 1 + Math.floor(Math.random() * buf.length);
        randomFillSync(buf, 0, n);
        const piece = Buffer.from(buf.subarray(0, n));
        sent.update(piece);
        sentBytes += n;
        if (!c.write(piece)) await new Promise((r) => c.once("drain", r));
        await delay(10);
      }
      c.end(); // half-close: the rest must still come back
      const t = setTimeout(() => c.destroy(new Error("no end within 60 s")), 60_000);
      await done;
      clearTimeout(t);
      if (gotBytes !== sentBytes || sent.digest("hex") !== got.digest("hex")) {
        throw new Error(`integrity: sent ${sentBytes} bytes, got ${gotBytes}`);
      }
      this.stats.streamsDone++;
      this.stats.streamBytes += sentBytes * 2;
    } finally {
      c.destroy();
    }
  }

  async short(): Promise<void> {
    const c = await connect(this.busy);
    try {
      const msg = Buffer.from(`short ${Math.random()}\n`);
      await new Promise<void>((resolve, reject) => {
        let got = "";
        const t = setTimeout(() => reject(new Error("short: no echo in 10 s")), 10_000);
        c.on("data", (d: Buffer) => {
          got += String(d);
          if (got === String(msg)) {
            clearTimeout(t);
            resolve();
          }
        });
        c.on("error", (e) => {
          clearTimeout(t);
          reject(e);
        });
        c.write(msg);
      });
      this.stats.shortsDone++;
    } finally {
      c.destroy();
    }
  }

  /** A dial sluice cannot complete: the client must be closed, not left hanging. */
  async failedDial(): Promise<void> {
    const c = await connect(this.dead);
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("failed dial: client left open")), 15_000);
        const end = () => {
          clearTimeout(t);
          resolve();
        };
        c.on("end", end);
        c.on("close", end);
        c.on("error", end);
        c.resume();
      });
      this.stats.dialsDone++;
    } finally {
      c.destroy();
    }
  }

  async run(running: () => boolean): Promise<void> {
    const streams = Array.from({ length: STREAMS }, async () => {
      while (running()) {
        await this.stream(running).catch((e) => {
          if (running()) {
            this.stats.streamErrors++;
            this.stats.errorLines.push(`[soak] stream: ${e}`);
          }
        });
      }
    });
    const shorts = (async () => {
      while (running()) {
        const batch = Array.from(
          { length: Math.max(1, Math.round(SHORTS_PER_SECOND / 10)) },
          () =>
            this.short().catch((e) => {
              if (!running()) return;
              this.stats.shortErrors++;
              this.stats.errorLines.push(`[soak] short: ${e}`);
            }),
        );
        await Promise.all([...batch, delay(100)]);
      }
    })();
    const dials = (async () => {
      while (running()) {
        await Promise.all([
          this.failedDial().catch((e) => {
            if (!running()) return;
            this.stats.dialErrors++;
            this.stats.errorLines.push(`[soak] dial: ${e}`);
          }),
          delay(500),
        ]);
      }
    })();
    const churn = (async () => {
      let round = 1;
      let lastHup = Date.now();
      while (running()) {
        await delay(CHURN);
        if (!running()) break;
        await this.writeRouting(round++);
        if (Date.now() - lastHup >= SIGHUP) {
          lastHup = Date.now();
          this.signal("SIGHUP");
          this.stats.sighups++;
        }
      }
    })();
    await Promise.all([...streams, shorts, dials, churn]);
  }

  async report(elapsed: string): Promise<string> {
    const p = procStats(this.child.pid ?? -1);
    let active = "?";
    try {
      active = String((await this.listeners()).reduce((n, l) => n + l.active_connections, 0));
    } catch { /* shown as ? */ }
    const s = this.stats;
    const errors = s.streamErrors + s.shortErrors + s.dialErrors;
    return `${elapsed} ${this.rt.padEnd(4)} fds=${p.fds} rss=${p.rssMiB}MiB active=${active} ` +
      `streams=${s.streamsDone} (${
        (s.streamBytes / 2 ** 20).toFixed(0)
      } MiB) shorts=${s.shortsDone} ` +
      `failed_dials=${s.dialsDone} reloads=${s.reloads} sighups=${s.sighups} ` +
      `errors=${errors} log_errors=${s.errorLines.filter((l) => !l.startsWith("[soak]")).length}` +
      (this.exitCode !== undefined ? ` EXITED(${this.exitCode})` : "");
  }

  /** By PID: Deno's child.kill() delivers only the first signal sent through it. */
  signal(sig: NodeJS.Signals): void {
    if (this.exitCode !== undefined || !this.child.pid) return;
    try {
      process.kill(this.child.pid, sig);
    } catch { /* gone */ }
  }

  async stop(): Promise<number | null | undefined> {
    this.signal("SIGTERM");
    for (let i = 0; i < 300 && this.exitCode === undefined; i++) await delay(100);
    this.signal("SIGKILL");
    this.a.close();
    this.b.close();
    await rm(this.dir, { recursive: true, force: true });
    return this.exitCode;
  }
}

// ---------------------------------------------------------------- main

const targets = RUNTIMES.map((rt) => new Target(rt));
process.stdout.write(
  `soak: ${RUNTIMES.join(" + ")} for ${DURATION / 1000} s, report every ${INTERVAL / 1000} s, ` +
    `${STREAMS} streams, ${SHORTS_PER_SECOND} short/s, churn every ${CHURN / 1000} s, ` +
    `SIGHUP every ${SIGHUP / 1000} s\n`,
);
await Promise.all(targets.map((t) => t.start()));
const started = Date.now();
const deadline = started + DURATION;
const running = () => Date.now() < deadline && targets.every((t) => t.exitCode === undefined);
const fmt = (ms: number) =>
  `${String(Math.floor(ms / 60_000)).padStart(2, "0")}:${
    String(Math.floor(ms / 1000) % 60).padStart(2, "0")
  }`;
for (const t of targets) process.stdout.write((await t.report(fmt(0))) + "\n");
const reporter = (async () => {
  while (running()) {
    await delay(Math.min(INTERVAL, Math.max(0, deadline - Date.now())));
    for (const t of targets) {
      process.stdout.write((await t.report(fmt(Date.now() - started))) + "\n");
    }
  }
})();
await Promise.all([...targets.map((t) => t.run(running)), reporter]);
// Let the last connections end, then one settled figure each, then SIGTERM.
await delay(3000);
let failed = false;
for (const t of targets) {
  process.stdout.write(`${await t.report("final")}\n`);
  const died = t.exitCode !== undefined;
  const code = await t.stop();
  const s = t.stats;
  const errors = s.streamErrors + s.shortErrors + s.dialErrors;
  const logErrors = s.errorLines.filter((l) => !l.startsWith("[soak]"));
  process.stdout.write(
    `${t.rt}: exit ${code} after SIGTERM${died ? " (it had exited before the end)" : ""}; ` +
      `${errors} client errors, ${logErrors.length} ERROR lines\n`,
  );
  for (const l of s.errorLines.slice(-10)) process.stdout.write(`  ${l}\n`);
  if (died || code !== 0 || s.streamErrors > 0 || s.dialErrors > 0 || s.shortErrors > 0) {
    failed = true;
  }
}
process.stdout.write(failed ? "soak: FAILED\n" : "soak: ok\n");
process.exit(failed ? 1 : 0);
