// Takes one history sample a second from what the engine and providers already count (their
// views' counters): no work is added per connection. The only impure part of the history.
// node:timers on both runtimes: its timers have unref(), so a sampler never keeps a process up.
import { clearTimeout, setTimeout } from "node:timers";
import type { EngineControl } from "../../proxy/types.ts";
import type { ProviderStatus } from "../../providers/types.ts";
import { mergeListenerViews } from "../metrics.ts";
import type { History } from "./history.ts";

export interface SamplerOptions {
  readonly history: History;
  readonly engine: Pick<EngineControl, "listeners">;
  providers(): readonly ProviderStatus[];
  /** @default Date.now */
  readonly now?: () => number;
}

export interface Sampler {
  /** Takes a sample now (the timer calls this; tests may too). */
  sample(): void;
  stop(): void;
}

/** Samples just after each second starts, on a timer that never keeps the process alive. */
export function startSampler(o: SamplerOptions): Sampler {
  const now = o.now ?? Date.now;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  function sample(): void {
    o.history.observe(now(), {
      listeners: mergeListenerViews(o.engine.listeners()),
      providers: o.providers(),
    });
  }
  function schedule(): void {
    if (stopped) return;
    const wait = 1000 - (now() % 1000) + 20;
    timer = setTimeout(() => {
      try {
        sample();
      } finally {
        schedule();
      }
    }, wait);
    timer.unref();
  }
  sample();
  schedule();
  return {
    sample,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
