// Linux facts read from /proc (RSS, CPU time of a process, idle time of a CPU), free ports,
// and bounded waits for a port to accept and echo.
import { readFileSync } from "node:fs";
import { connect, createServer } from "node:net";

/** VmRSS of a process in KiB, or NaN when it is gone. */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** utime + stime of a process in clock ticks (USER_HZ = 100 on Linux), NaN when it is gone. */
export function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may hold spaces: split after the last ')'.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]); // fields 14 and 15 of proc(5)
  } catch {
    return NaN;
  }
}

/** Busy and total ticks per CPU from /proc/stat. */
export function cpuTimes(): Map<string, { busy: number; total: number }> {
  const out = new Map<string, { busy: number; total: number }>();
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const m = /^(cpu\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!.split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    out.set(m[1]!, { busy: total - idle, total });
  }
  return out;
}

/** Percent busy per CPU between two cpuTimes() readings. */
export function cpuBusy(
  a: Map<string, { busy: number; total: number }>,
  b: Map<string, { busy: number; total: number }>,
): Record<string, number> {
  const r: Record<string, number> = {};
  for (const [k, v] of b) {
    const u = a.get(k);
    if (!u || v.total === u.total) continue;
    r[k] = Math.round((v.busy - u.busy) / (v.total - u.total) * 1000) / 10;
  }
  return r;
}

/** A port free on 127.0.0.1 right now (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** True when something accepts on the port. */
export function accepts(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: "127.0.0.1", port });
    const t = setTimeout(() => done(false), timeoutMs);
    function done(ok: boolean) {
      clearTimeout(t);
      c.destroy();
      resolve(ok);
    }
    c.once("connect", () => done(true));
    c.once("error", () => done(false));
  });
}

/** True when a 4-byte message sent to the port comes back (a proxy in front of the echo). */
export function echoes(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: "127.0.0.1", port });
    let got = "";
    const t = setTimeout(() => done(false), timeoutMs);
    function done(ok: boolean) {
      clearTimeout(t);
      c.destroy();
      resolve(ok);
    }
    c.once("connect", () => c.write("ping"));
    c.on("data", (d) => {
      got += d.toString();
      if (got === "ping") done(true);
    });
    c.once("error", () => done(false));
    c.once("close", () => done(got === "ping"));
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it is true or `timeoutMs` passed; returns whether it was. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 100,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000 && Date.now() < end; i++) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return false;
}

/** Ports in [min, max] that something listens on (from /proc/net/tcp and tcp6). */
export function listeningPorts(min: number, max: number): number[] {
  const found = new Set<number>();
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] !== "0A") continue; // LISTEN
      const port = parseInt(cols[1]?.split(":")[1] ?? "", 16);
      if (port >= min && port <= max) found.add(port);
    }
  }
  return [...found].sort((a, b) => a - b);
}
