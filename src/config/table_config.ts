// The part of the main config the routing table builder needs (routing never reads Config).
import type { TableConfig } from "../routing/types.ts";
import type { Config } from "./types.ts";

export function tableConfigFrom(config: Config): TableConfig {
  return {
    allowed: config.listeners.allowed,
    portMin: config.listeners.portMin,
    portMax: config.listeners.portMax,
    defaults: config.defaults,
  };
}
