// Helpers for the Consul and Nomad provider tests: a capturing logger, a snapshot collector,
// fast pacing, and bounded waits.
import type { LogFields, Logger, LogLevel } from "../../src/log.ts";
import type { ServiceSpec } from "../../src/routing/types.ts";
import type { Provider } from "../../src/providers/types.ts";
import { whenDone } from "../_support/cleanup.ts";

export interface LogLine {
  readonly level: LogLevel;
  readonly component: string;
  readonly msg: string;
  readonly fields: LogFields;
}

/** A Logger that keeps every line (all levels) for assertions. */
export function captureLogger(lines: LogLine[] = [], component = "provider"): Logger & {
  lines: LogLine[];
} {
  const at = (level: LogLevel) => (msg: string, fields: LogFields = {}) => {
    lines.push({ level, component, msg, fields });
  };
  return {
    lines,
    component,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    enabled: () => true,
    child: (name) => captureLogger(lines, `${component}.${name}`),
  };
}

/** Everything a logger captured, as one string (for "the token never appears" checks). */
export function logText(lines: readonly LogLine[]): string {
  return lines.map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.fields)}`).join("\n");
}

export interface Collector {
  readonly snapshots: (readonly ServiceSpec[])[];
  readonly last: readonly ServiceSpec[] | undefined;
  onSnapshot(s: readonly ServiceSpec[]): void;
}

export function collector(): Collector {
  const snapshots: (readonly ServiceSpec[])[] = [];
  return {
    snapshots,
    get last() {
      return snapshots[snapshots.length - 1];
    },
    onSnapshot(s) {
      snapshots.push(s);
    },
  };
}

/** Pacing that keeps the suite quick: a generous bucket and short backoff. */
export const FAST = {
  bucket: { burst: 100, refillMs: 10 },
  pacing: { backoff: { baseMs: 20, maxMs: 80 }, forbiddenMs: 30_000, badRequestMs: 60_000 },
} as const;

/** A compact view of a snapshot: "name listeners -> backends(weight,tier)". */
export function view(s: readonly ServiceSpec[] | undefined): string[] {
  return (s ?? []).map((svc) =>
    `${svc.name} ${svc.listeners.map((l) => `${l.label}:${l.port}`).join(",")} -> ${
      svc.backends.map((b) =>
        `${b.address}${b.weight !== 1 ? `/w${b.weight}` : ""}${b.tier ? `/t${b.tier}` : ""}`
      )
        .join(",")
    }`
  );
}

/** Stops a provider at the end of a test. */
export function stopping(
  p: Provider,
  t: { after(fn: () => Promise<void> | void): void },
): Provider {
  whenDone(t, () => p.stop());
  return p;
}

/** A clock for the blocking loop that only moves when told: pacing without the wall clock. */
export interface FakeClock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** The lengths of the sleeps asked for and not yet over, in the order they were asked. */
  waiting(): number[];
  /** Moves time on by ms and ends every sleep that is then due. */
  advance(ms: number): void;
}

export function fakeClock(): FakeClock {
  let t = 0;
  const timers = new Set<{ due: number; ms: number; done: () => void }>();
  return {
    now: () => t,
    sleep(ms, signal) {
      if (ms <= 0 || signal.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = {
          due: t + ms,
          ms,
          done: () => {
            timers.delete(timer);
            signal.removeEventListener("abort", timer.done);
            resolve();
          },
        };
        timers.add(timer);
        signal.addEventListener("abort", timer.done, { once: true });
      });
    },
    waiting: () => [...timers].map((x) => x.ms),
    advance(ms) {
      t += ms;
      for (const x of [...timers]) if (x.due <= t) x.done();
    },
  };
}
