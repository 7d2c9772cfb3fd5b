// A provider whose routes never change: the `--forward` flags of `sluice run`.
import type { ServiceSpec } from "../routing/types.ts";
import type { Provider, ProviderStatus } from "./types.ts";

export function createStaticProvider(name: string, services: readonly ServiceSpec[]): Provider {
  let status: ProviderStatus = { name, kind: "forward", state: "waiting", services: 0 };
  return {
    name,
    kind: "forward",
    start(onSnapshot) {
      status = {
        ...status,
        state: "ok",
        lastUpdate: new Date().toISOString(),
        services: services.length,
      };
      onSnapshot(services);
    },
    stop() {
      status = { ...status, state: "stopped" };
      return Promise.resolve();
    },
    status: () => status,
  };
}
