// One provider per configured `routing.*` section; their routes are merged later by the table
// builder, so several may run at once (file + consul, say).
import type { Config } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { Runtime } from "../runtime/types.ts";
import { createConsulProvider } from "./consul.ts";
import { createFileProvider } from "./file.ts";
import { createHttpProvider } from "./http.ts";
import { createNomadProvider } from "./nomad.ts";
import type { Provider } from "./types.ts";

export interface CreateProvidersOptions {
  config: Config;
  rt: Runtime;
  /** Each provider logs to a child named after its kind ("provider.file" under "provider"). */
  log: Logger;
}

/**
 * The providers of `config.routing`, in a fixed order: file, http, consul, nomad. Not started.
 * Throws SluiceError("CONFIG") naming the key when a setting cannot be used (e.g. a Consul TLS key).
 */
export function createProviders(o: CreateProvidersOptions): Provider[] {
  const r = o.config.routing;
  const out: Provider[] = [];
  if (r.file) out.push(createFileProvider({ rt: o.rt, config: r.file, log: o.log.child("file") }));
  if (r.http) out.push(createHttpProvider({ rt: o.rt, config: r.http, log: o.log.child("http") }));
  if (r.consul) {
    out.push(createConsulProvider({ rt: o.rt, config: r.consul, log: o.log.child("consul") }));
  }
  if (r.nomad) {
    out.push(createNomadProvider({ rt: o.rt, config: r.nomad, log: o.log.child("nomad") }));
  }
  return out;
}
