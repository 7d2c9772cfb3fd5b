// Abort helpers shared by both adapters: the one race of a promise against a signal
// (net/abortable.ts), with the signal turned into a typed SluiceError.
import { SluiceError } from "../errors.ts";
import { abortable } from "../net/abortable.ts";

/** ETIMEDOUT for a TimeoutError reason (AbortSignal.timeout), else ABORTED. */
function abortError(signal: AbortSignal, action: string): SluiceError {
  const reason = signal.reason as { name?: string } | undefined;
  return reason?.name === "TimeoutError"
    ? new SluiceError("ETIMEDOUT", `Cannot ${action}: timed out`, { cause: signal.reason })
    : new SluiceError("ABORTED", `Cannot ${action}: aborted`, { cause: signal.reason });
}

/** Resolves/rejects like `p`, or rejects with abortError() when `signal` fires first. */
export function raceSignal<T>(
  p: Promise<T>,
  signal: AbortSignal | undefined,
  action: string,
): Promise<T> {
  if (!signal) return p;
  return abortable(p, signal).catch((e: unknown) => {
    throw signal.aborted && e === signal.reason ? abortError(signal, action) : e;
  });
}
