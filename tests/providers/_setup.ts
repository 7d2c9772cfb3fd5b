// Setups of the Consul and Nomad provider tests: a configuration, the emulator, the provider
// with fast pacing (or an injected clock), a snapshot collector, and the list requests seen.
import { createConsulProvider } from "../../src/providers/consul.ts";
import { createNomadProvider } from "../../src/providers/nomad.ts";
import type { PacingClock } from "../../src/providers/backoff.ts";
import type { ConsulProviderConfig, NomadProviderConfig } from "../../src/config/types.ts";
import { getRuntime } from "../../src/runtime/detect.ts";
import { type ConsulEmulator, startConsulEmulator } from "../_support/consul_emulator.ts";
import { type NomadEmulator, startNomadEmulator } from "../_support/nomad_emulator.ts";
import type { Provider } from "../../src/providers/types.ts";
import { captureLogger, collector, FAST } from "./_harness.ts";
import { whenDone } from "../_support/cleanup.ts";

export const rt = getRuntime();

export type T = { after(fn: () => unknown): void };

export interface Pacing {
  backoff?: { baseMs: number; maxMs: number };
  forbiddenMs?: number;
  badRequestMs?: number;
  clock?: PacingClock;
  fullReadEveryMs?: number;
}

export function consulConfig(
  url: string,
  over: Partial<ConsulProviderConfig> = {},
): ConsulProviderConfig {
  return {
    address: url,
    token: "",
    datacenter: "",
    namespace: "",
    waitMs: 1000,
    consistencyMode: "leader",
    tag: "sluice",
    tls: { insecure: false },
    ...over,
  };
}

/** What both setups take beyond their config and emulator options. */
interface SourceSetup<E> {
  bucket?: { burst: number; refillMs: number };
  pacing?: Pacing;
  before?: (emu: E) => void;
}

/** The provider `create` makes over `emu`, with fast pacing, a captured log and a collector. */
function attachProvider<E extends { close(): unknown }>(
  t: T,
  emu: E,
  o: SourceSetup<E>,
  create: (shared: {
    log: ReturnType<typeof captureLogger>;
    bucket: { burst: number; refillMs: number };
    pacing: Pacing;
  }) => Provider,
) {
  whenDone(t, () => emu.close());
  o.before?.(emu);
  const log = captureLogger();
  const p = create({
    log,
    bucket: o.bucket ?? FAST.bucket,
    pacing: { ...FAST.pacing, ...o.pacing },
  });
  const c = collector();
  whenDone(t, () => p.stop());
  return { emu, log, p, c, start: () => p.start((s) => c.onSnapshot(s)) };
}

export async function setupConsul(
  t: T,
  o: SourceSetup<ConsulEmulator> & {
    config?: Partial<ConsulProviderConfig>;
    emu?: Parameters<typeof startConsulEmulator>[0];
  } = {},
) {
  const emu = await startConsulEmulator({ jitter: false, shuffle: true, ...o.emu });
  return attachProvider(t, emu, o, (shared) =>
    createConsulProvider({
      rt,
      config: consulConfig(emu.url, o.config),
      random: () => 0.5,
      ...shared,
    }));
}

export const consulListReqs = (emu: ConsulEmulator) =>
  emu.requests.filter((r) => r.path === "/v1/health/state/any");

export function nomadConfig(
  url: string,
  over: Partial<NomadProviderConfig> = {},
): NomadProviderConfig {
  return {
    address: url,
    token: "",
    namespace: "",
    waitMs: 1000,
    stale: false,
    tag: "sluice",
    tls: { insecure: false },
    ...over,
  };
}

export async function setupNomad(
  t: T,
  o: SourceSetup<NomadEmulator> & {
    config?: Partial<NomadProviderConfig>;
    emu?: Parameters<typeof startNomadEmulator>[0];
  } = {},
) {
  const emu = await startNomadEmulator({ jitter: false, shuffle: true, ...o.emu });
  return attachProvider(t, emu, o, (shared) =>
    createNomadProvider({
      rt,
      config: nomadConfig(emu.url, o.config),
      random: () => 0.5,
      ...shared,
    }));
}

export const nomadListReqs = (emu: NomadEmulator) =>
  emu.requests.filter((r) => r.path === "/v1/services");
