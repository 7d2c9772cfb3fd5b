// Test helpers for providers: collect snapshots, wait for them (bounded), capture log lines.
import { logSink } from "../../src/log.ts";
import type { ServiceSpec } from "../../src/routing/types.ts";

export interface Collector {
  readonly snaps: (readonly ServiceSpec[])[];
  readonly push: (s: readonly ServiceSpec[]) => void;
  /** Resolves once at least `count` snapshots arrived; rejects after timeoutMs. */
  waitFor(count: number, timeoutMs?: number): Promise<readonly ServiceSpec[]>;
  /** Names of the services in the latest snapshot, sorted. */
  names(): string[];
}

export function createCollector(): Collector {
  const snaps: (readonly ServiceSpec[])[] = [];
  let wake: (() => void) | undefined;
  return {
    snaps,
    push(s) {
      snaps.push(s);
      wake?.();
    },
    async waitFor(count, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (snaps.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(
            `expected ${count} snapshots within ${timeoutMs} ms, got ${snaps.length}`,
          );
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 50));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
      }
      return snaps[count - 1] as readonly ServiceSpec[];
    },
    names() {
      const last = snaps[snaps.length - 1] ?? [];
      return last.map((s) => s.name).sort();
    },
  };
}

export interface LogCapture {
  /** Parsed JSON log records written since capture began. */
  readonly records: Record<string, unknown>[];
  restore(): void;
}

/** Sends log lines (JSON, debug and up) to memory until restore(). */
export function captureLogs(): LogCapture {
  const before = { write: logSink.write, level: logSink.level, format: logSink.format };
  const records: Record<string, unknown>[] = [];
  logSink.write = (line) => records.push(JSON.parse(line));
  logSink.level = "debug";
  logSink.format = "json";
  return { records, restore: () => Object.assign(logSink, before) };
}
