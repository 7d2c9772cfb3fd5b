// The start lines tcpproxy prints: one per service.
import type { ServiceSpec } from "../routing/types.ts";

/** One line per service: its name, listeners and backends, as tcpproxy prints at start. */
export function serviceSummaries(
  services: readonly ServiceSpec[],
): { name: string; listeners: string; backends: string }[] {
  return services.map((s) => ({
    name: s.name,
    listeners: s.listeners.map((l) => `${l.label}:${l.port}`).join(","),
    backends: s.backends.map((b) => b.address).join(",") || "(none)",
  }));
}
