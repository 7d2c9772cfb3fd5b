// Starts the admin API on 127.0.0.1 port 0 through the real runtime adapter, over a fake engine
// (startTestAdmin) or over a real engine whose connections it counts (startEngineAdmin).
import { getRuntime } from "../../src/runtime/detect.ts";
import { createEngine, type Engine } from "../../src/proxy/engine.ts";
import { createLogger } from "../../src/log.ts";
import type { HttpHandle, Runtime } from "../../src/runtime/types.ts";
import { startAdmin } from "../../src/admin/server.ts";
import { createMetrics, type Metrics } from "../../src/admin/metrics.ts";
import type { ProviderStatus } from "../../src/providers/types.ts";
import type { History } from "../../src/admin/history/history.ts";
import { createFakeEngine, type FakeEngine, type FakeListener } from "./_fake_engine.ts";

export interface TestAdmin {
  readonly url: string;
  readonly engine: FakeEngine;
  /** Replace entries to change what /readyz and /api/v1/providers see. */
  readonly providers: ProviderStatus[];
  readonly metrics: Metrics;
  /** fetch with the base URL and, when given, the bearer token */
  get(path: string, o?: { token?: string; init?: RequestInit }): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestAdmin(o: {
  listeners?: FakeListener[];
  providers?: ProviderStatus[];
  token?: string;
  /** A history the test feeds itself (else the server samples the fake engine each second). */
  history?: History;
  now?: () => number;
} = {}): Promise<TestAdmin> {
  const engine = createFakeEngine(o.listeners ?? []);
  const providers = o.providers ?? [];
  const metrics = createMetrics();
  const rt = getRuntime();
  const handle = await startAdmin({
    rt,
    listener: "127.0.0.1:0",
    deps: {
      engine,
      providers: () => providers,
      metrics,
      token: o.token ?? "",
      ...(o.history ? { history: o.history } : {}),
      ...(o.now ? { now: o.now } : {}),
      version: "0.0.0-test",
      runtime: `${rt.name} ${rt.version}`,
    },
  });
  const url = `http://127.0.0.1:${handle.port}`;
  return {
    url,
    engine,
    providers,
    metrics,
    get(path, g = {}) {
      const headers = new Headers(g.init?.headers);
      if (g.token !== undefined) headers.set("authorization", `Bearer ${g.token}`);
      return fetch(url + path, { ...g.init, headers, signal: AbortSignal.timeout(5000) });
    },
    async close() {
      await handle.close({ force: true });
      metrics.close();
    },
  };
}

/** A real engine (drain_timeout 500 ms) observed by fresh metrics, and the admin API over it. */
export async function startEngineAdmin(
  rt: Runtime,
): Promise<{ engine: Engine; metrics: Metrics; admin: HttpHandle }> {
  const metrics = createMetrics();
  const engine = createEngine({
    rt,
    log: createLogger("test"),
    drainTimeoutMs: 500,
    observer: metrics,
  });
  const admin = await startAdmin({
    rt,
    listener: "127.0.0.1:0",
    deps: {
      engine,
      providers: () => [],
      metrics,
      token: "",
      version: "0.0.0-test",
      runtime: rt.name,
    },
  });
  return { engine, metrics, admin };
}
