// The one way tests wait: poll a condition (bounded in time and in tries), put a deadline on a
// promise, or pause on purpose. Every wait ends with an error that names what was awaited.

export interface WaitOptions {
  /** Names the awaited condition in the timeout error (default: the predicate's source). */
  what?: string;
  /** Gives up after this long (default 5000 ms). An attempt still running then is abandoned. */
  timeoutMs?: number;
  /** Pause between attempts (default 20 ms). */
  intervalMs?: number;
  /** Gives up after this many attempts (default: enough for timeoutMs, plus slack). */
  maxIterations?: number;
}

/** A plain pause, for pacing a scenario (a slow peer, a gap between writes); never for waiting. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `cond` (sync or async) until it returns a truthy value and resolves with that value.
 * A throw counts as "not yet". Rejects after `timeoutMs` or `maxIterations` attempts with a
 * message naming `what` and the last value or error seen.
 */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  o: WaitOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const intervalMs = o.intervalMs ?? 20;
  const maxIterations = o.maxIterations ?? Math.ceil(timeoutMs / Math.max(1, intervalMs)) * 2 + 10;
  const deadline = Date.now() + timeoutMs;
  let last: { value: unknown } | { error: unknown } | undefined;
  let tries = 0;
  while (tries < maxIterations) {
    tries++;
    try {
      const left = Math.max(1, deadline - Date.now());
      const v = await within(Promise.resolve().then(cond), left, "one attempt");
      if (v) return v as NonNullable<T>;
      last = { value: v };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) break;
    await delay(intervalMs);
  }
  const what = o.what ?? String(cond).replace(/\s+/g, " ").slice(0, 200);
  const seen = last === undefined
    ? ""
    : "error" in last
    ? `; last error: ${last.error instanceof Error ? last.error.message : String(last.error)}`
    : `; last value: ${describe(last.value)}`;
  throw new Error(`timed out after ${timeoutMs} ms (${tries} tries) waiting for ${what}${seen}`);
}

/** Resolves or rejects as `p` does, or rejects after `ms` with a message naming `what`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

function describe(v: unknown): string {
  try {
    const s = typeof v === "string" ? JSON.stringify(v) : String(JSON.stringify(v) ?? v);
    return s.length > 200 ? `${s.slice(0, 200)}...` : s;
  } catch {
    return String(v);
  }
}
