// The churn benchmark's routing and its changes: a seeded, fixed plan that every proxy gets in
// the same order, and the same routing written for each (sluice routing file, Consul
// registrations, HAProxy config, nginx stream config).

export interface PlanOptions {
  /** Listeners at start, each with an echo backend port of its own. */
  readonly listeners: number;
  readonly changes: number;
  /** First port of the listener range (listeners + changes ports). */
  readonly listenBase: number;
  /** First port of the backend range (listeners + changes + pools * POOL_SPARE ports). */
  readonly backendBase: number;
  readonly seed: number;
}

/** Shared pools: a listener each, POOL_SIZE backends at a time out of POOL_SPARE. */
export const POOLS = 4;
export const POOL_SIZE = 4;
export const POOL_SPARE = 8;
/** Single listeners that carry the traffic and are never removed (plus the pool listeners). */
export const STABLE = 40;

export type Change =
  | { kind: "add"; port: number; backend: number }
  | { kind: "remove"; port: number }
  | { kind: "pool"; pool: number; out: number; in: number };

/** The routing at one moment: single listeners (port -> backend port) and the pools. */
export interface Routing {
  readonly single: Map<number, number>;
  /** Pool index -> backend ports. */
  readonly pools: number[][];
}

export interface Plan {
  readonly o: PlanOptions;
  /** Pool i listens on poolPort(i). */
  readonly poolPorts: number[];
  /** Stable single listeners (traffic goes here and to the pools). */
  readonly stablePorts: number[];
  readonly initial: Routing;
  readonly changes: Change[];
  /** Number of listener and backend ports the plan uses from each base. */
  readonly listenSpan: number;
  readonly backendSpan: number;
}

/** mulberry32: a small seeded PRNG, so every proxy sees the same change sequence. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function clone(r: Routing): Routing {
  return { single: new Map(r.single), pools: r.pools.map((p) => [...p]) };
}

export function apply(r: Routing, c: Change): void {
  if (c.kind === "add") r.single.set(c.port, c.backend);
  else if (c.kind === "remove") r.single.delete(c.port);
  else {
    const p = r.pools[c.pool]!;
    p[p.indexOf(c.out)] = c.in;
  }
}

export function makePlan(o: PlanOptions): Plan {
  const n = o.listeners;
  if (n < POOLS + STABLE + 10) throw new Error(`churn: at least ${POOLS + STABLE + 10} listeners`);
  // Listener ports: pools first, then the singles, then the spare ports that adds use.
  const poolPorts = Array.from({ length: POOLS }, (_, i) => o.listenBase + i);
  const single = new Map<number, number>();
  for (let i = POOLS; i < n; i++) single.set(o.listenBase + i, o.backendBase + i);
  const poolBackends = (p: number) =>
    Array.from(
      { length: POOL_SPARE },
      (_, k) => o.backendBase + n + o.changes + p * POOL_SPARE + k,
    );
  const pools = Array.from({ length: POOLS }, (_, p) => poolBackends(p).slice(0, POOL_SIZE));
  const stablePorts = [...single.keys()].slice(0, STABLE);
  const stable = new Set(stablePorts);
  const initial: Routing = { single, pools };

  const random = rng(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const now = clone(initial);
  const changes: Change[] = [];
  let nextAdd = o.listenBase + n;
  for (let i = 0; i < o.changes; i++) {
    const kind = pick(["add", "remove", "pool"] as const);
    let c: Change;
    if (kind === "add") {
      const port = nextAdd++;
      c = { kind, port, backend: o.backendBase + (port - o.listenBase) };
    } else if (kind === "remove") {
      const removable = [...now.single.keys()].filter((p) => !stable.has(p));
      c = { kind, port: pick(removable) };
    } else {
      const pool = Math.floor(random() * POOLS);
      const cur = now.pools[pool]!;
      const unused = poolBackends(pool).filter((b) => !cur.includes(b));
      c = { kind, pool, out: pick(cur), in: pick(unused) };
    }
    apply(now, c);
    changes.push(c);
  }
  return {
    o,
    poolPorts,
    stablePorts,
    initial,
    changes,
    listenSpan: n + o.changes,
    backendSpan: n + o.changes + POOLS * POOL_SPARE,
  };
}

// --- The routing written for each proxy ---------------------------------------------------

/** sluice routing file (TOML). */
export function sluiceToml(r: Routing, poolPorts: readonly number[]): string {
  const out: string[] = [];
  r.pools.forEach((b, i) => {
    out.push(
      `[[services]]\nname = "pool${i}"\nlistener = "local:${poolPorts[i]}"\nbackends = [${
        b.map((p) => `"127.0.0.1:${p}"`).join(", ")
      }]\n`,
    );
  });
  for (const [port, be] of r.single) {
    out.push(
      `[[services]]\nname = "s${port}"\nlistener = "local:${port}"\nbackends = ["127.0.0.1:${be}"]\n`,
    );
  }
  return out.join("\n");
}

/** One Consul registration (the emulator's /_emu/register body). */
export interface Registration {
  id: string;
  name: string;
  address: string;
  port: number;
  tags: string[];
}

export function singleReg(port: number, backend: number): Registration {
  return {
    id: `s${port}`,
    name: `s${port}`,
    address: "127.0.0.1",
    port: backend,
    tags: ["sluice", `sluice.listener=local:${port}`],
  };
}

export function poolReg(pool: number, listen: number, backend: number): Registration {
  return {
    id: `pool${pool}-${backend}`,
    name: `pool${pool}`,
    address: "127.0.0.1",
    port: backend,
    tags: ["sluice", `sluice.listener=local:${listen}`],
  };
}

export function consulRegs(r: Routing, poolPorts: readonly number[]): Registration[] {
  const out: Registration[] = [];
  r.pools.forEach((b, i) => b.forEach((be) => out.push(poolReg(i, poolPorts[i]!, be))));
  for (const [port, be] of r.single) out.push(singleReg(port, be));
  return out;
}

export interface HaproxyFiles {
  readonly adminSocket: string;
  readonly maxconn: number;
}

/** HAProxy: one `listen` section per listener; seamless reload needs expose-fd listeners. */
export function haproxyCfg(r: Routing, poolPorts: readonly number[], f: HaproxyFiles): string {
  const out = [
    "global",
    "  nbthread 1",
    `  maxconn ${f.maxconn}`,
    // The old worker hands its listening sockets to the new one over this socket (seamless
    // reload; "expose-fd listeners", management guide section 4).
    `  stats socket ${f.adminSocket} mode 600 level admin expose-fd listeners`,
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 1h",
    "  timeout server 1h",
    "",
  ];
  r.pools.forEach((b, i) => {
    out.push(`listen pool${i}`, `  bind 127.0.0.1:${poolPorts[i]}`, "  balance roundrobin");
    b.forEach((be) => out.push(`  server b${be} 127.0.0.1:${be}`));
  });
  for (const [port, be] of r.single) {
    out.push(`listen s${port}`, `  bind 127.0.0.1:${port}`, `  server b 127.0.0.1:${be}`);
  }
  return out.join("\n") + "\n";
}

export interface NginxFiles {
  readonly module: string | undefined;
  readonly pid: string;
  readonly errorLog: string;
  readonly connections: number;
}

/** nginx: a `stream` server per listener, an upstream per pool. */
export function nginxConf(r: Routing, poolPorts: readonly number[], f: NginxFiles): string {
  const out = [
    f.module ? `load_module ${f.module};` : "",
    "daemon off;",
    "worker_processes 1;",
    `worker_rlimit_nofile ${f.connections + 100};`,
    `pid ${f.pid};`,
    `error_log ${f.errorLog} warn;`,
    `events { worker_connections ${f.connections}; }`,
    "stream {",
    "  proxy_timeout 1h;",
  ];
  r.pools.forEach((b, i) => {
    out.push(`  upstream pool${i} {`);
    b.forEach((be) => out.push(`    server 127.0.0.1:${be};`));
    out.push("  }");
    out.push(`  server { listen 127.0.0.1:${poolPorts[i]}; proxy_pass pool${i}; }`);
  });
  for (const [port, be] of r.single) {
    out.push(`  server { listen 127.0.0.1:${port}; proxy_pass 127.0.0.1:${be}; }`);
  }
  out.push("}", "");
  return out.join("\n");
}
