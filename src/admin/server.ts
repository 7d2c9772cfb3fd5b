// Serves the admin app through the runtime adapter, after the exposure check (exposure.ts):
// a non-loopback admin.listener without admin.token is refused before anything binds.
import type { HttpHandle, Runtime } from "../runtime/types.ts";
import { type AdminDeps, createAdminApp } from "./app.ts";
import { checkAdminExposure, parseAdminListener } from "./exposure.ts";

export { checkAdminExposure, isLoopbackHost, parseAdminListener } from "./exposure.ts";

export async function startAdmin(
  o: { rt: Runtime; listener: string; deps: AdminDeps },
): Promise<HttpHandle> {
  checkAdminExposure(o.listener, o.deps.token);
  const a = parseAdminListener(o.listener) as { host: string; port: number };
  const app = createAdminApp({ ...o.deps, listenHost: o.deps.listenHost ?? a.host });
  const handle = await o.rt.serveHttp(a, (req) => app.fetch(req));
  return {
    port: handle.port,
    host: handle.host,
    async close(c) {
      await handle.close(c);
      o.deps.metrics.close();
    },
  };
}
