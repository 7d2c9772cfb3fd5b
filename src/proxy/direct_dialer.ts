// Reaches a backend directly, with the runtime's connect (which frees the socket on timeout).
import type { Runtime } from "../runtime/types.ts";
import type { Dialer } from "../net/dial.ts";

export function createDirectDialer(rt: Runtime): Dialer {
  return {
    dial(target, o) {
      const { host, port } = target;
      // One options object per dial, without a spread's temporary.
      return rt.connect(
        o.signal
          ? { host, port, timeoutMs: o.timeoutMs, signal: o.signal }
          : { host, port, timeoutMs: o.timeoutMs },
      );
    },
  };
}
