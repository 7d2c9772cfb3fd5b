// Serves the admin app through the runtime adapter, after the exposure check (config/exposure.ts):
// a non-loopback admin.listener without admin.token is refused before anything binds.
import type { HttpHandle, Runtime } from "../runtime/types.ts";
import { SluiceError } from "../errors.ts";
import { type AdminDeps, createAdminApp } from "./app.ts";
import { adminExposureProblem, checkAdminExposure } from "../config/exposure.ts";
import type { HostPort } from "../net/host_port.ts";
import { createHistory } from "./history/history.ts";
import { type Sampler, startSampler } from "./history/sampler.ts";

export async function startAdmin(
  o: {
    rt: Runtime;
    /** admin.listener as written (for messages) */
    listener: string;
    /** The same, parsed at load (config.admin.address); parsed here when absent. */
    address?: HostPort | undefined;
    deps: AdminDeps;
    /** Awaited before each request under /api/ and /metrics (the worker group's refresh). */
    before?: (path: string) => Promise<void>;
  },
): Promise<HttpHandle> {
  let a = o.address;
  if (a) {
    const problem = adminExposureProblem(o.listener, a, o.deps.token);
    if (problem) throw new SluiceError("CONFIG", `admin.listener: ${problem}`);
  } else a = checkAdminExposure(o.listener, o.deps.token);
  if (!a) throw new SluiceError("CONFIG", "Cannot start admin: admin.listener is off");
  // sluice passes the history it keeps from start; an admin without one samples its own.
  let sampler: Sampler | undefined;
  let history = o.deps.history;
  if (!history) {
    history = createHistory();
    sampler = startSampler({ history, engine: o.deps.engine, providers: o.deps.providers });
  }
  const app = createAdminApp({ ...o.deps, history, listenHost: o.deps.listenHost ?? a.host });
  const before = o.before;
  const handle = await o.rt.serveHttp(a, async (req) => {
    const path = before ? new URL(req.url).pathname : "";
    if (before && /^\/(api\/|metrics$)/.test(path)) await before(path);
    return app.fetch(req);
  });
  return {
    port: handle.port,
    host: handle.host,
    async close(c) {
      sampler?.stop();
      await handle.close(c);
      o.deps.metrics.close();
    },
  };
}
