// The one timeout/abort idiom: `deadline()` for "this step may take at most N ms (or until the
// caller gives up)", `abortable()` for "stop waiting on this promise when the signal fires".
// A deadline's timer is cleared when the step ends, so a connection that finishes early leaves
// no timer behind (AbortSignal.timeout cannot be cleared).

/**
 * Rejects with `signal.reason` as soon as `signal` aborts, whatever `p` does. A rejection of
 * `p` that comes after is handled (never reported as unhandled).
 */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

export interface Deadline {
  /** Aborts when the time is up or the parent signal aborts. */
  readonly signal: AbortSignal;
  /** True once the time ran out (not when the parent aborted). */
  readonly expired: boolean;
  /** Stops the timer and unhooks the parent; call it when the step ends (idempotent). */
  clear(): void;
}

export interface DeadlineOptions {
  /** The caller's signal: when it aborts, so does the deadline (with its reason). */
  readonly signal?: AbortSignal | undefined;
  /** The abort reason when the time runs out. @default a DOMException "TimeoutError" */
  readonly reason?: () => unknown;
}

/** A signal that aborts after `ms` milliseconds or when `o.signal` aborts, whichever is first. */
export function deadline(ms: number, o: DeadlineOptions = {}): Deadline {
  const ac = new AbortController();
  let expired = false;
  const parent = o.signal;
  const onParent = () => ac.abort(parent?.reason);
  const timer = setTimeout(() => {
    expired = true;
    ac.abort(o.reason ? o.reason() : new DOMException("deadline exceeded", "TimeoutError"));
  }, ms);
  if (parent) {
    if (parent.aborted) onParent();
    else parent.addEventListener("abort", onParent, { once: true });
  }
  return {
    signal: ac.signal,
    get expired() {
      return expired;
    },
    clear() {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onParent);
    },
  };
}
