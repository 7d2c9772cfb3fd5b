// Reaches a backend directly, with the runtime's connect (which frees the socket on timeout).
import type { Runtime } from "../runtime/types.ts";
import type { Dialer } from "./types.ts";

export function createDirectDialer(rt: Runtime): Dialer {
  return {
    dial(target, o) {
      return rt.connect({
        host: target.host,
        port: target.port,
        timeoutMs: o.timeoutMs,
        ...(o.signal ? { signal: o.signal } : {}),
      });
    },
  };
}
