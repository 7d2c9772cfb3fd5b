// Series of listeners that route by TLS server name: connections no service took, ClientHellos
// that did not arrive within sni_timeout, and the connections each service took.
import type { ListenerView } from "../proxy/types.ts";
import type { ExpositionWriter } from "./exposition.ts";

export function writeSniMetrics(w: ExpositionWriter, ls: readonly ListenerView[]): void {
  const sniListeners = ls.filter((l) => l.sni !== undefined);
  const perSni = (name: string, help: string, v: (l: ListenerView) => number) => {
    w.family(name, "counter", help);
    for (const l of sniListeners) w.sample(name, { listener: l.key }, v(l));
  };
  perSni(
    "sluice_sni_unmatched_total",
    "Connections closed on a listener routing by TLS server name: no service took the name.",
    (l) => l.sni!.unmatched,
  );
  perSni(
    "sluice_sni_timeouts_total",
    "ClientHellos that did not arrive within sni_timeout.",
    (l) => l.sni!.timeouts,
  );
  w.family(
    "sluice_sni_connections_total",
    "counter",
    "Connections each service took on a listener routing by TLS server name.",
  );
  for (const l of sniListeners) {
    for (const r of l.sni!.routes) {
      w.sample("sluice_sni_connections_total", { listener: l.key, service: r.service }, r.total);
    }
  }
}
