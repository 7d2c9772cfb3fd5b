// Passive ejection: a backend whose connects fail `threshold` times in a row is taken out for
// a back-off that doubles with each ejection in a row (capped), then tried again; one success
// clears everything. Failures while already ejected (dials that were in flight, or fail-open
// tries) do not escalate the back-off, so a burst of failures counts as one ejection.

export interface EjectorOptions {
  /** Consecutive connect failures that eject. @default 3 */
  threshold?: number;
  /** First ejection. @default 1000 */
  baseMs?: number;
  /** Longest ejection. @default 30000 */
  maxMs?: number;
  /** ms clock. @default Date.now */
  now?: () => number;
}

export interface Ejector {
  /** A connect to the backend failed (refused, timed out). */
  failure(): void;
  /** A connect succeeded: the backend is fully back. */
  success(): void;
  /** True while the back-off runs. */
  ejected(): boolean;
  /** When the current ejection ends (ms on the `now` clock); 0 if never ejected or cleared. */
  readonly until: number;
  /** Ejections in a row so far (0 after a success). */
  readonly ejections: number;
}

export function createEjector(o: EjectorOptions = {}): Ejector {
  const threshold = Math.max(1, o.threshold ?? 3);
  const baseMs = Math.max(1, o.baseMs ?? 1000);
  const maxMs = Math.max(baseMs, o.maxMs ?? 30_000);
  const now = o.now ?? Date.now;
  let consecutive = 0;
  let ejections = 0;
  let until = 0;
  return {
    failure() {
      if (now() < until) return;
      consecutive++;
      // After an ejection the threshold is already reached: the first failed retry ejects again.
      if (consecutive < threshold) return;
      ejections++;
      const ms = Math.min(maxMs, baseMs * 2 ** Math.min(ejections - 1, 40));
      until = now() + ms;
    },
    success() {
      consecutive = 0;
      ejections = 0;
      until = 0;
    },
    ejected: () => now() < until,
    get until() {
      return until;
    },
    get ejections() {
      return ejections;
    },
  };
}
