// Abort helpers shared by both adapters: turn a signal into a typed SluiceError, and race a
// promise against a signal without leaking listeners.
import { SluiceError } from "../errors.ts";

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
  if (signal.aborted) return Promise.reject(abortError(signal, action));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal, action));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
