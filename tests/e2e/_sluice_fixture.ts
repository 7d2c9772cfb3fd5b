// sluice as a child process driven by a watched routing file, with its admin API on a free
// loopback port so tests can read live state (/api/v1/routing, /metrics) instead of guessing.
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { freePort, type SluiceProcess, spawnSluice, tempDir } from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";

export interface AdminBackend {
  address: string;
  tier: number;
  drain: boolean;
  active_connections: number;
  total_connections: number;
  connect_failures: number;
}

export interface AdminListener {
  address: string;
  state: string;
  active_connections: number;
  total_connections: number;
  refused_connections: number;
  backends: AdminBackend[];
}

export interface SluiceFixture {
  readonly sluice: SluiceProcess;
  readonly dir: string;
  /** Replaces the routing document (rename-save, as editors do). */
  writeRouting(text: string): Promise<void>;
  /** Listeners from GET /api/v1/routing. */
  listeners(): Promise<AdminListener[]>;
  /** GET /metrics text. */
  metrics(): Promise<string>;
  /** Waits until every address in `keys` ("127.0.0.1:PORT", "[::1]:PORT") is listening. */
  waitListening(keys: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

export interface SluiceFixtureOptions {
  rt: Runtime;
  routing: string;
  /** Extra lines appended to config.toml. */
  config?: string;
}

/** Starts sluice with `routing` and waits until its admin API answers. */
export async function startSluiceFixture(o: SluiceFixtureOptions): Promise<SluiceFixture> {
  const dir = await tempDir("sluice-e2e-");
  const adminPort = await freePort(o.rt);
  const routingPath = join(dir.path, "routing.toml");
  await writeFile(
    join(dir.path, "config.toml"),
    `[listeners]
allowed = { local = "127.0.0.1", v6 = "::1" }
port_min = 1024
port_max = 65535
drain_timeout = "2s"
bind_retry = "300ms"

[admin]
listener = "127.0.0.1:${adminPort}"

[routing.file]
path = "routing.toml"
${o.config ?? ""}
`,
  );
  await writeFile(routingPath, o.routing);
  const sluice = spawnSluice(o.rt, ["run", "-c", join(dir.path, "config.toml")], {
    cwd: dir.path,
  });
  const base = `http://127.0.0.1:${adminPort}`;
  async function get(path: string): Promise<string> {
    const r = await fetch(base + path, { signal: AbortSignal.timeout(5000) });
    const text = await r.text();
    if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${text}`);
    return text;
  }
  const fixture: SluiceFixture = {
    sluice,
    dir: dir.path,
    async writeRouting(text) {
      const tmp = join(dir.path, ".routing.toml.tmp");
      await writeFile(tmp, text);
      await rename(tmp, routingPath);
    },
    async listeners() {
      const body = JSON.parse(await get("/api/v1/routing")) as { listeners: AdminListener[] };
      return body.listeners;
    },
    metrics: () => get("/metrics"),
    async waitListening(keys) {
      await waitFor(async () => {
        const ls = await fixture.listeners();
        return keys.every((k) => ls.some((l) => l.address === k && l.state === "listening"));
      }, {
        timeoutMs: 20_000,
        intervalMs: 100,
        what: `listeners ${keys.join(", ")}:\n${sluice.lines.slice(-20).join("\n")}`,
      });
    },
    async stop() {
      sluice.signal("SIGTERM");
      await sluice.exited(10_000).catch(() => sluice.kill());
      await dir.remove();
    },
  };
  try {
    await waitFor(() => get("/healthz").then(() => true), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: `sluice's admin API:\n${sluice.lines.join("\n")}`,
    });
  } catch (err) {
    sluice.kill();
    await dir.remove();
    throw err;
  }
  return fixture;
}
