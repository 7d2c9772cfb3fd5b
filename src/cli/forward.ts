// `--forward [LABEL:]PORT:HOST:PORT`: ad-hoc routes without files. Forwards that ask for the
// same listener become one service balancing over all their backends.
import { SluiceError } from "../errors.ts";
import type { BackendSpec, ServiceSpec } from "../routing/types.ts";
import { formatHostPort } from "../net/host_port.ts";

export interface Forward {
  readonly label: string;
  readonly port: number;
  readonly host: string;
  readonly backendPort: number;
}

function port(text: string, what: string, spec: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) {
    throw new SluiceError(
      "CONFIG",
      `Cannot parse --forward "${spec}": ${what} "${text}" is not a port (1-65535)`,
    );
  }
  return n;
}

/** Parses one --forward value; throws a CONFIG SluiceError that quotes it. */
export function parseForward(spec: string): Forward {
  // The backend host may be a bracketed IPv6 address: take it apart from the right.
  const m = /^(?:([A-Za-z0-9_.-]+):)?(\d+):(\[[^\]]+\]|[^:\[\]]+):(\d+)$/.exec(spec);
  if (!m) {
    throw new SluiceError(
      "CONFIG",
      `Cannot parse --forward "${spec}": expected [LABEL:]PORT:HOST:PORT, e.g. 8080:127.0.0.1:9000`,
    );
  }
  return {
    label: m[1] ?? "local",
    port: port(m[2]!, "listen port", spec),
    host: m[3]!.replace(/^\[(.*)\]$/, "$1"),
    backendPort: port(m[4]!, "backend port", spec),
  };
}

export function forwardServices(forwards: readonly Forward[]): ServiceSpec[] {
  const byListener = new Map<string, { label: string; port: number; backends: BackendSpec[] }>();
  for (const f of forwards) {
    const key = `${f.label}:${f.port}`;
    let entry = byListener.get(key);
    if (!entry) byListener.set(key, entry = { label: f.label, port: f.port, backends: [] });
    const address = formatHostPort(f.host, f.backendPort);
    if (entry.backends.some((b) => b.address === address)) continue;
    entry.backends.push({
      address,
      host: f.host,
      port: f.backendPort,
      weight: 1,
      tier: 0,
      drain: false,
    });
  }
  return [...byListener.values()].map((e) => ({
    name: `forward-${e.label}-${e.port}`,
    listeners: [{ label: e.label, port: e.port }],
    backends: e.backends,
    settings: {},
    accept: {},
  }));
}
