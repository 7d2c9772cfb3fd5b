// The history exists while someone can read it: created (and sampled every second) when the
// configuration has an admin API, dropped when a reload turns the admin API off. Sampling
// 5,000 listeners took 3-9 % of a core and the rings up to 60 MiB, for nothing when the admin
// API is off. Made with the first configuration that has one, so it spans admin rebinds.
import type { EngineControl } from "../../proxy/types.ts";
import type { ProviderStatus } from "../../providers/types.ts";
import { createHistory, type History } from "./history.ts";
import { type Sampler, startSampler } from "./sampler.ts";

export interface HistoryKeeper {
  /** The history while kept. */
  readonly current: History | undefined;
  /** Keep (start sampling) or drop the history; a no-op when it already is so. */
  keep(on: boolean): void;
}

export function createHistoryKeeper(o: {
  readonly engine: Pick<EngineControl, "listeners">;
  providers(): readonly ProviderStatus[];
}): HistoryKeeper {
  let history: History | undefined;
  let sampler: Sampler | undefined;
  return {
    get current() {
      return history;
    },
    keep(on) {
      if (on && !history) {
        history = createHistory();
        sampler = startSampler({ history, engine: o.engine, providers: o.providers });
      } else if (!on && history) {
        sampler?.stop();
        sampler = undefined;
        history = undefined;
      }
    },
  };
}
