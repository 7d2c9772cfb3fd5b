// `sluice bootstrap`: turns --forward flags into a config and a routing file to start from.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "smol-toml";
import { type Forward, forwardServices } from "./forward.ts";
import { DEFAULTS } from "../defaults.ts";
import { formatDuration } from "../text/duration.ts";

export async function writeBootstrap(dir: string, forwards: readonly Forward[]): Promise<void> {
  const allowed: Record<string, string> = { ...DEFAULTS.listeners.allowed };
  for (const f of forwards) {
    // An unknown label is most likely meant as all interfaces; the file says so for review.
    if (!(f.label in allowed)) allowed[f.label] = "0.0.0.0";
  }
  const config = {
    listeners: {
      allowed,
      port_min: DEFAULTS.listeners.portMin,
      port_max: DEFAULTS.listeners.portMax,
      drain_timeout: formatDuration(DEFAULTS.listeners.drainTimeoutMs),
    },
    admin: { listener: DEFAULTS.admin.listener },
    routing: { file: { path: "routing.toml", watch: DEFAULTS.routing.file.watch } },
  };
  const routing = {
    services: forwardServices(forwards).map((s) => ({
      name: s.name,
      listener: `${s.listeners[0]!.label}:${s.listeners[0]!.port}`,
      backends: s.backends.map((b) => b.address),
    })),
  };
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, "config.toml"),
    `# Written by sluice bootstrap.\n${stringify(config)}\n`,
  );
  await writeFile(
    join(dir, "routing.toml"),
    `# Written by sluice bootstrap.\n${stringify(routing)}\n`,
  );
}
