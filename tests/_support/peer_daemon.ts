// Real third-party daemons (HAProxy, nginx with its stream module) as test peers: started in
// the foreground from a config in a temp dir, ready once their ports accept, stopped by PID.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { canConnect } from "./helpers.ts";
import { signalChild } from "./signal_child.ts";
import { waitFor } from "./wait.ts";

export const HAPROXY: string | undefined = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
  .find((p) => existsSync(p));

const NGINX_BIN = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"].find((p) => existsSync(p));
/** Debian ships the stream module apart (libnginx-mod-stream); the tests load it themselves. */
export const NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";
export const NGINX: string | undefined = NGINX_BIN && existsSync(NGINX_STREAM_MODULE)
  ? NGINX_BIN
  : undefined;

export interface PeerDaemon {
  readonly pid: number;
  /** Everything the daemon printed so far (for failure messages). */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s. */
  stop(): Promise<void>;
}

export interface DaemonOptions {
  rt: Runtime;
  /** Ports (host, port) that must accept before the daemon counts as ready. */
  ready: readonly { host: string; port: number }[];
}

function startDaemon(cmd: string, args: string[], o: DaemonOptions): Promise<PeerDaemon> {
  const child: ChildProcess = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (b) => out += String(b));
  child.stderr?.on("data", (b) => out += String(b));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const daemon: PeerDaemon = {
    pid: child.pid ?? -1,
    output: () => out,
    async stop() {
      if (gone()) return;
      signalChild(child, "SIGTERM");
      await waitFor(gone, { timeoutMs: 5000, what: `${cmd} to exit` })
        .catch(() => signalChild(child, "SIGKILL"));
    },
  };
  return (async () => {
    try {
      await waitFor(async () => {
        if (gone()) throw new Error(`${cmd} exited (${child.exitCode}): ${out}`);
        for (const p of o.ready) if (!(await canConnect(o.rt, p.port, p.host))) return false;
        return true;
      }, { timeoutMs: 15_000, intervalMs: 50, what: `${cmd} to listen` });
    } catch (err) {
      await daemon.stop();
      throw new Error(`${err}\n${out}`);
    }
    return daemon;
  })();
}

/** HAProxy in the foreground (-db) with `body` after a TCP-mode defaults section. */
export async function startHaproxy(
  dir: string,
  body: string,
  o: DaemonOptions,
): Promise<PeerDaemon> {
  if (!HAPROXY) throw new Error("haproxy is not installed");
  const file = join(dir, "haproxy.cfg");
  await writeFile(
    file,
    `global
  maxconn 256
defaults
  mode tcp
  timeout connect 3s
  timeout client 30s
  timeout server 30s
${body}`,
  );
  const check = spawnSync(HAPROXY, ["-c", "-f", file], { encoding: "utf8" });
  if (check.status !== 0) throw new Error(`haproxy -c failed:\n${check.stdout}${check.stderr}`);
  return startDaemon(HAPROXY, ["-db", "-f", file], o);
}

/**
 * nginx as one foreground process (no master, no workers to chase) with the stream module
 * loaded and `stream` as the body of its stream block. Logs and pid stay in `dir`.
 */
export async function startNginxStream(
  dir: string,
  stream: string,
  o: DaemonOptions,
): Promise<PeerDaemon> {
  if (!NGINX) throw new Error("nginx with the stream module is not installed");
  const file = join(dir, "nginx.conf");
  await writeFile(
    file,
    `load_module ${NGINX_STREAM_MODULE};
daemon off;
master_process off;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "nginx-error.log")} info;
events { worker_connections 256; }
stream {
${stream}
}
`,
  );
  const args = ["-p", dir, "-e", join(dir, "nginx-error.log"), "-c", file];
  const check = spawnSync(NGINX, [...args, "-t"], { encoding: "utf8" });
  if (check.status !== 0) throw new Error(`nginx -t failed:\n${check.stdout}${check.stderr}`);
  return startDaemon(NGINX, args, o);
}
