// Serves the admin app through the runtime adapter, after the exposure check (config/exposure.ts):
// a non-loopback admin.listener without admin.token is refused before anything binds.
import type { HttpHandle, Runtime } from "../runtime/types.ts";
import { SluiceError } from "../errors.ts";
import { type AdminDeps, createAdminApp } from "./app.ts";
import { checkAdminExposure } from "../config/exposure.ts";

export async function startAdmin(
  o: { rt: Runtime; listener: string; deps: AdminDeps },
): Promise<HttpHandle> {
  const a = checkAdminExposure(o.listener, o.deps.token);
  if (!a) throw new SluiceError("CONFIG", "Cannot start admin: admin.listener is off");
  const app = createAdminApp(o.deps);
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
