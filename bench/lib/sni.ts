// The SNI case (issue 16): TLS handshakes per second through a proxy that routes one port to
// two TLS servers by the ClientHello's server name, without terminating TLS. The backends are
// one nginx with two TLS servers (a certificate each); the proxies are HAProxy (req.ssl_sni
// after tcp-request inspect-delay), nginx (stream ssl_preread) and sluice on Deno and Bun
// (services with `sni` sharing one port). "direct" is each backend without a proxy (the ceiling).
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { findExecutable, type Proc, start } from "./procs.ts";
import { accepts, freePort, waitFor } from "./sys.ts";
import type { TargetName } from "./targets.ts";

/** The names routed: an exact one and one under a one-label wildcard. */
export const SNI_DB = "db.sni.test";
export const SNI_APP = "web.apps.sni.test";
const CN_DB = "db.sni.test";
const CN_APPS = "*.apps.sni.test";

export interface SniBackends {
  /** nginx TLS server with the db certificate / the *.apps certificate. */
  readonly dbPort: number;
  readonly appsPort: number;
  stop(): Promise<void>;
}

export interface SniTarget {
  readonly name: TargetName;
  /** The shared port (direct: none, each name goes to its backend). */
  readonly port: number | undefined;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

export interface SniMeasured {
  readonly hs_rate: number;
  readonly errors: number;
  /** Handshakes that saw the other server's certificate (misrouted). */
  readonly wrong: number;
}

/** A self-signed certificate and key for `cn` in `dir`; returns their paths. */
function makeCert(dir: string, tag: string, cn: string): { cert: string; key: string } {
  const cert = join(dir, `${tag}.crt`);
  const key = join(dir, `${tag}.key`);
  const r = spawnSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    `/CN=${cn}`,
    "-addext",
    `subjectAltName=DNS:${cn}`,
    "-keyout",
    key,
    "-out",
    cert,
  ], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`Cannot make a certificate: ${r.stderr || r.error}`);
  return { cert, key };
}

/** Why the SNI case cannot run here, or undefined. */
export function sniMissing(): string | undefined {
  if (!findExecutable("openssl")) return "openssl not installed";
  if (!findExecutable("nginx")) return "nginx not installed (the TLS backends)";
  return undefined;
}

async function listening(name: string, port: number, proc: Proc): Promise<void> {
  const ok = await waitFor(
    async () => {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
        throw new Error(
          `${name} exited early (code ${proc.child.exitCode ?? proc.child.signalCode})`,
        );
      }
      return await accepts(port, 300);
    },
    20_000,
    100,
  );
  if (!ok) throw new Error(`${name}: port ${port} did not accept within 20 s`);
}

/** One nginx, one worker, two TLS servers (full handshakes: no session cache, no tickets). */
export async function startSniBackends(
  dir: string,
  cpus: string | undefined,
): Promise<SniBackends> {
  const db = makeCert(dir, "db", CN_DB);
  const apps = makeCert(dir, "apps", CN_APPS);
  const dbPort = await freePort();
  const appsPort = await freePort();
  const cfg = join(dir, "sni-backends.conf");
  const log = join(dir, "sni-backends.log");
  const server = (port: number, c: { cert: string; key: string }, body: string) =>
    `  server { listen 127.0.0.1:${port} ssl; ssl_certificate ${c.cert}; ` +
    `ssl_certificate_key ${c.key}; return 200 "${body}\\n"; }`;
  writeFileSync(
    cfg,
    [
      "daemon off;",
      "worker_processes 1;",
      `pid ${join(dir, "sni-backends.pid")};`,
      `error_log ${log} warn;`,
      "events { worker_connections 4096; }",
      "http {",
      "  access_log off;",
      "  ssl_session_cache off;",
      "  ssl_session_tickets off;",
      server(dbPort, db, "db"),
      server(appsPort, apps, "apps"),
      "}",
      "",
    ].join("\n"),
  );
  const proc = start("nginx (TLS backends)", findExecutable("nginx")!, [
    "-c",
    cfg,
    "-p",
    dir,
    "-e",
    log,
  ], { ...(cpus ? { cpus } : {}), stderrFile: log });
  await listening("nginx (TLS backends)", dbPort, proc);
  await listening("nginx (TLS backends)", appsPort, proc);
  return { dbPort, appsPort, stop: () => proc.kill() };
}

/**
 * The HAProxy configuration: wait up to 5 s for a ClientHello, then route by its server name;
 * the wildcard is matched as one label, as sluice does.
 */
export function haproxySniConfig(o: { port: number; be: SniBackends; maxConns: number }): string {
  return [
    "global",
    "  nbthread 1",
    `  maxconn ${o.maxConns}`,
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 30s",
    "  timeout server 30s",
    "frontend sni",
    `  bind 127.0.0.1:${o.port}`,
    "  tcp-request inspect-delay 5s",
    "  tcp-request content accept if { req_ssl_hello_type 1 }",
    `  use_backend db if { req.ssl_sni -i ${SNI_DB} }`,
    "  use_backend apps if { req.ssl_sni -m reg -i ^[^.]+\\.apps\\.sni\\.test$ }",
    "  default_backend db",
    "backend db",
    `  server s1 127.0.0.1:${o.be.dbPort}`,
    "backend apps",
    `  server s1 127.0.0.1:${o.be.appsPort}`,
    "",
  ].join("\n");
}

/** The nginx configuration: stream, ssl_preread, a map from $ssl_preread_server_name. */
export function nginxSniConfig(
  o: { port: number; be: SniBackends; dir: string; module: string | undefined },
): string {
  return [
    o.module ? `load_module ${o.module};` : "",
    "daemon off;",
    "worker_processes 1;",
    `pid ${join(o.dir, "sni-nginx.pid")};`,
    `error_log ${join(o.dir, "sni-nginx.log")} warn;`,
    "events { worker_connections 4096; }",
    "stream {",
    "  map $ssl_preread_server_name $sni_backend {",
    "    hostnames;",
    `    ${SNI_DB} 127.0.0.1:${o.be.dbPort};`,
    `    ~^[^.]+\\.apps\\.sni\\.test$ 127.0.0.1:${o.be.appsPort};`,
    `    default 127.0.0.1:${o.be.dbPort};`,
    "  }",
    `  server { listen 127.0.0.1:${o.port}; ssl_preread on; preread_timeout 5s; ` +
    "proxy_pass $sni_backend; }",
    "}",
    "",
  ].join("\n");
}

function streamModule(): string | undefined {
  for (
    const p of [
      "/usr/lib/nginx/modules/ngx_stream_module.so",
      "/usr/share/nginx/modules/ngx_stream_module.so",
    ]
  ) {
    if (spawnSync("test", ["-e", p]).status === 0) return p;
  }
  return undefined;
}

/** sluice's routing file: two services sharing one port, routed by server name. */
export function sluiceSniRouting(o: { port: number; be: SniBackends }): string {
  return [
    "[[services]]",
    'name = "db"',
    `listener = "local:${o.port}"`,
    `sni = ["${SNI_DB}"]`,
    'sni_timeout = "5s"',
    `backends = ["127.0.0.1:${o.be.dbPort}"]`,
    "",
    "[[services]]",
    'name = "apps"',
    `listener = "local:${o.port}"`,
    `sni = ["*.apps.sni.test"]`,
    `backends = ["127.0.0.1:${o.be.appsPort}"]`,
    "",
  ].join("\n");
}

/** Starts one proxy in front of the backends (sluice: main.ts run with a routing file). */
export async function startSniTarget(
  name: TargetName,
  be: SniBackends,
  o: { dir: string; cpus: string | undefined; maxConns: number; repoRoot: string },
): Promise<SniTarget> {
  const pin = o.cpus ? { cpus: o.cpus } : {};
  if (name === "direct") {
    return { name, port: undefined, pid: undefined, stop: () => Promise.resolve() };
  }
  const port = await freePort();
  let proc: Proc;
  if (name === "haproxy") {
    const exe = findExecutable("haproxy");
    if (!exe) throw new Error("haproxy not installed");
    const cfg = join(o.dir, "sni-haproxy.cfg");
    writeFileSync(cfg, haproxySniConfig({ port, be, maxConns: o.maxConns }));
    proc = start("haproxy (sni)", exe, ["-f", cfg, "-db"], {
      ...pin,
      stderrFile: join(o.dir, "sni-haproxy.log"),
    });
  } else if (name === "nginx") {
    const module = streamModule();
    if (!module) throw new Error("nginx stream module not installed");
    const cfg = join(o.dir, "sni-nginx.conf");
    writeFileSync(cfg, nginxSniConfig({ port, be, dir: o.dir, module }));
    const log = join(o.dir, "sni-nginx.log");
    proc = start("nginx (sni)", findExecutable("nginx")!, ["-c", cfg, "-p", o.dir, "-e", log], {
      ...pin,
      stderrFile: log,
    });
  } else {
    const exe = findExecutable(name, [join(o.repoRoot, "node_modules", ".bin")]);
    if (!exe) throw new Error(`${name} not found`);
    const routing = join(o.dir, `sni-${name}-routing.toml`);
    const config = join(o.dir, `sni-${name}.toml`);
    writeFileSync(routing, sluiceSniRouting({ port, be }));
    writeFileSync(
      config,
      [
        "[listeners]",
        'allowed = { local = "127.0.0.1" }',
        "port_max = 65535",
        'drain_timeout = "1s"',
        "[admin]",
        'listener = ""',
        "[log]",
        "access = false",
        "[routing.file]",
        `path = "${routing}"`,
        "",
      ].join("\n"),
    );
    const entry = join(o.repoRoot, "main.ts");
    const args = name === "deno" ? ["run", "-A", "--unstable-net", entry] : [entry];
    proc = start(`sluice on ${name} (sni)`, exe, [...args, "run", "-c", config], {
      ...pin,
      cwd: o.repoRoot,
      stderrFile: join(o.dir, `sni-${name}.log`),
    });
  }
  await listening(name, port, proc);
  // nginx: the master holds the port too, so this is the process group's leader; CPU of the
  // worker is not measured here (handshake rate is the figure).
  return { name, port, pid: proc.pid, stop: () => proc.kill() };
}

/**
 * Runs the handshake client (bench/lib/tls_handshakes.ts, its own process on `genCpus`) for
 * `secs` seconds after a warm-up, and returns handshakes per second. Each name's certificate is
 * checked: a misrouted handshake is counted in `wrong`.
 */
export async function measureSni(
  t: SniTarget,
  be: SniBackends,
  o: {
    repoRoot: string;
    genCpus: string | undefined;
    secs: number;
    warm: number;
    concurrency: number;
  },
): Promise<SniMeasured> {
  const deno = findExecutable("deno", [join(o.repoRoot, "node_modules", ".bin")]);
  if (!deno) throw new Error("deno not found (runs the handshake client)");
  const script = join(o.repoRoot, "bench", "lib", "tls_handshakes.ts");
  const once = async (secs: number) => {
    // direct: half the connections to each backend, by running one client per backend.
    const runs = t.port === undefined
      ? [[be.dbPort, `${SNI_DB}=${CN_DB}`], [be.appsPort, `${SNI_APP}=${CN_APPS}`]] as const
      : [[t.port, `${SNI_DB}=${CN_DB}`, `${SNI_APP}=${CN_APPS}`]] as const;
    const conc = t.port === undefined ? Math.max(1, Math.floor(o.concurrency / 2)) : o.concurrency;
    const procs = runs.map(([port, ...names]) =>
      start("tls handshakes", deno, [
        "run",
        "-A",
        script,
        String(port),
        String(secs),
        String(conc),
        ...names,
      ], { ...(o.genCpus ? { cpus: o.genCpus } : {}), cwd: o.repoRoot })
    );
    const lines = await Promise.all(procs.map((p) => p.firstLine((secs + 30) * 1000)));
    let hs = 0, errors = 0, wrong = 0, elapsed = 0;
    for (const l of lines) {
      const r = JSON.parse(l) as {
        handshakes: number;
        errors: number;
        wrong: number;
        secs: number;
      };
      hs += r.handshakes;
      errors += r.errors;
      wrong += r.wrong;
      elapsed = Math.max(elapsed, r.secs);
    }
    await Promise.all(procs.map((p) => p.exited));
    return { hs_rate: hs / elapsed, errors, wrong };
  };
  if (o.warm > 0) await once(o.warm);
  return await once(o.secs);
}
