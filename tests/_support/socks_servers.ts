// Real SOCKS5 servers from Debian (microsocks, dante-server) started on free loopback ports for
// tests, run as `nobody` when we are root, and stopped by the PID we started. Every wait is bounded.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import type { Runtime } from "../../src/runtime/types.ts";
import { freePort, tempDir } from "./helpers.ts";
import { signalChild } from "./signal_child.ts";
import { delay, waitFor } from "./wait.ts";

export interface SocksServer {
  readonly name: string;
  readonly host: "127.0.0.1";
  readonly port: number;
  readonly pid: number;
  /** The server's own log (danted) or its stdout/stderr (microsocks). */
  log(): Promise<string>;
  /** SIGTERM, then SIGKILL after a bounded wait; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const BINARIES = {
  microsocks: ["/usr/bin/microsocks", "/usr/local/bin/microsocks"],
  danted: ["/usr/sbin/danted", "/usr/local/sbin/danted"],
} as const;

/** The binary's path, or undefined when it is not installed. */
export function socksBinary(name: keyof typeof BINARIES): string | undefined {
  return BINARIES[name].find((p) => existsSync(p));
}

/**
 * A reason to skip for node:test's `skip` option (and a loud line on stderr), or false.
 * tests/_support/install_peers.sh installs both packages when it can.
 */
export function skipUnlessInstalled(name: keyof typeof BINARIES): string | false {
  if (socksBinary(name)) return false;
  const pkg = name === "danted" ? "dante-server" : name;
  const why = `${name} not installed (apt-get install ${pkg}; tests/_support/install_peers.sh)`;
  process.stderr.write(`\n*** SKIPPING SOCKS5 tests against ${name}: ${why} ***\n\n`);
  return why;
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** Runs as nobody when we are root (danted and microsocks need no privilege on a high port). */
function dropPrivileges(argv: string[]): [string, string[]] {
  if (isRoot && existsSync("/usr/bin/setpriv")) {
    const group = spawnSync("getent", ["group", "nogroup"]).status === 0 ? "nogroup" : "nobody";
    return [
      "/usr/bin/setpriv",
      ["--reuid=nobody", `--regid=${group}`, "--clear-groups", "--", ...argv],
    ];
  }
  return [argv[0] as string, argv.slice(1)];
}

interface Started {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

function launch(argv: string[], cwd: string): Started {
  const [cmd, args] = dropPrivileges(argv);
  const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  child.stdout?.on("data", (d) => output.push(String(d)));
  child.stderr?.on("data", (d) => output.push(String(d)));
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.once("error", () => resolve(-1));
  });
  return { child, output, exited };
}

/** True once the port answers a SOCKS5 greeting with version 5 (any method). */
async function answersSocks5(rt: Runtime, port: number): Promise<boolean> {
  let c;
  try {
    c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 500 });
  } catch {
    return false;
  }
  try {
    await c.write(Uint8Array.from([5, 1, 0]));
    const chunk = await c.read({ signal: AbortSignal.timeout(1000) });
    return chunk !== null && chunk[0] === 5;
  } catch {
    return false;
  } finally {
    c.close();
  }
}

async function stopChild(s: Started): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  signalChild(s.child, "SIGTERM");
  const t = await Promise.race([s.exited.then(() => "exited"), delay(3000).then(() => "late")]);
  if (t === "late") {
    signalChild(s.child, "SIGKILL");
    await Promise.race([s.exited, delay(2000)]);
  }
}

/**
 * Starts a server on a port found free just before (bind 0, close), retrying on a collision,
 * and waits (bounded) until it answers a SOCKS5 greeting while still being our child.
 */
async function startOn(
  rt: Runtime,
  name: string,
  build: (port: number, dir: string) => Promise<{ argv: string[]; logPath?: string }>,
): Promise<SocksServer> {
  const dir = await tempDir(`sluice-${name}-`);
  // The server runs as nobody: it must be able to write its log here.
  await chmod(dir.path, 0o777);
  let lastOutput = "";
  for (let attempt = 1; attempt <= 5; attempt++) {
    const port = await freePort(rt);
    const { argv, logPath } = await build(port, dir.path);
    const s = launch(argv, dir.path);
    const alive = () => s.child.exitCode === null && s.child.signalCode === null;
    const state = await waitFor(async () => {
      if (!alive()) return "exited";
      if (!(await answersSocks5(rt, port))) return undefined;
      // Another process may own the port after a collision: ours must still be alive.
      await delay(50);
      return alive() ? "up" : "exited";
    }, { timeoutMs: 8000, intervalMs: 50, what: `${name} to answer on port ${port}` })
      .catch(() => "late");
    const up = state === "up";
    const readLog = async () =>
      s.output.join("") +
      (logPath ? await readFile(logPath, "utf8").catch(() => "") : "");
    if (up) {
      let stopped = false;
      return {
        name,
        host: "127.0.0.1",
        port,
        pid: s.child.pid as number,
        log: readLog,
        async stop() {
          if (stopped) return;
          stopped = true;
          await stopChild(s);
          await dir.remove();
        },
      };
    }
    lastOutput = await readLog();
    await stopChild(s);
  }
  await dir.remove();
  throw new Error(`Cannot start ${name} on a free loopback port after 5 attempts: ${lastOutput}`);
}

/** microsocks on 127.0.0.1; with username and password it requires RFC 1929 auth. */
export function startMicrosocks(
  rt: Runtime,
  o: { username?: string; password?: string } = {},
): Promise<SocksServer> {
  const bin = socksBinary("microsocks");
  if (!bin) throw new Error("microsocks is not installed");
  return startOn(rt, "microsocks", (port) => {
    const argv = [bin, "-i", "127.0.0.1", "-p", String(port), "-b", "127.0.0.1"];
    if (o.username !== undefined) argv.push("-u", o.username, "-P", o.password ?? "");
    return Promise.resolve({ argv });
  });
}

/**
 * danted (Dante 1.4) on 127.0.0.1 with no authentication (its `username` method checks system
 * passwords, which a test must not create). CONNECTs to 127.0.0.1 on `blockPorts` are refused by
 * a ruleset, so the "not allowed by ruleset" reply comes from a real server.
 */
export function startDanted(
  rt: Runtime,
  o: { blockPorts?: readonly number[] } = {},
): Promise<SocksServer> {
  const bin = socksBinary("danted");
  if (!bin) throw new Error("danted is not installed");
  return startOn(rt, "danted", async (port, dir) => {
    const logPath = join(dir, "danted.log");
    const blocks = (o.blockPorts ?? []).map((p) =>
      `socks block {\n  from: 0.0.0.0/0 to: 127.0.0.1/32 port = ${p}\n  log: error connect\n}\n`
    ).join("");
    const conf = `# written by tests/_support/socks_servers.ts
logoutput: ${logPath}
internal: 127.0.0.1 port = ${port}
external: 127.0.0.1
socksmethod: none
clientmethod: none
client pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
  log: error
}
${blocks}socks pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
  command: connect
  log: error
}
`;
    const confPath = join(dir, "danted.conf");
    await writeFile(confPath, conf);
    await chmod(confPath, 0o644);
    return { argv: [bin, "-f", confPath, "-p", join(dir, "danted.pid")], logPath };
  });
}

/** A loopback port where a connect is refused right now (freePort waits for the refusal). */
export function refusedPort(rt: Runtime): Promise<number> {
  return freePort(rt);
}
