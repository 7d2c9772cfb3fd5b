// Abort listeners added only to what lives long enough to need one. Nearly every dial and
// many splices end within a millisecond, and an addEventListener/removeEventListener pair per
// dial and per splice was ~4 % of Bun's profile at 4,000 connections/s. A new watch waits in a
// set; a shared ticker (every TICK_MS, unref'd, running only while a watch waits) gives each
// waiting watch a real listener, or calls it at once when its signal fired meanwhile. So an
// abort reaches a young watch at most TICK_MS late; owners that finish inside that window
// check `signal.aborted` themselves when it matters. The watch is itself the event listener
// (handleEvent) and calls a method of its target: no closure per watch.

const TICK_MS = 20;

/** What a watch calls. */
export interface AbortTarget {
  onAbort(): void;
}

export class AbortWatch {
  readonly signal: AbortSignal;
  readonly #target: AbortTarget;
  #listening = false;
  #over = false;

  constructor(signal: AbortSignal, target: AbortTarget) {
    this.signal = signal;
    this.#target = target;
  }

  /** EventListener: the signal fired. */
  handleEvent(): void {
    this.fire();
  }

  /** Calls the target once, unless cancelled. */
  fire(): void {
    if (this.#over) return;
    this.#over = true;
    this.#listening = false;
    this.#target.onAbort();
  }

  listen(): void {
    this.#listening = true;
    this.signal.addEventListener("abort", this, { once: true });
  }

  /** Ends the watch; the target is never called after this. */
  cancel(): void {
    if (this.#over) return;
    this.#over = true;
    if (this.#listening) {
      this.#listening = false;
      this.signal.removeEventListener("abort", this);
    } else waiting.delete(this);
  }
}

const waiting = new Set<AbortWatch>();
let timer: ReturnType<typeof setInterval> | undefined;

function tick(): void {
  for (const w of waiting) {
    waiting.delete(w);
    if (w.signal.aborted) {
      try {
        w.fire();
      } catch { /* the owner's problem; the others must still get their listener */ }
      continue;
    }
    w.listen();
  }
  if (waiting.size === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}

function startTicker(): void {
  timer = setInterval(tick, TICK_MS);
  (timer as { unref?: () => void }).unref?.();
  if (typeof timer === "number") {
    (globalThis as { Deno?: { unrefTimer(id: number): void } }).Deno?.unrefTimer(timer);
  }
}

/**
 * Calls `target.onAbort()` (or `target()`) once `signal` fires, at most TICK_MS late for a watch
 * younger than a tick. `cancel()` on the result ends the watch.
 */
export function watchAbort(signal: AbortSignal, target: AbortTarget | (() => void)): AbortWatch {
  const w = new AbortWatch(signal, typeof target === "function" ? { onAbort: target } : target);
  waiting.add(w);
  if (timer === undefined) startTicker();
  return w;
}
