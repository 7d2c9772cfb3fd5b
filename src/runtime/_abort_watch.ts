// Abort listeners added only to what lives long enough to need one. Nearly every dial and
// many splices end within a millisecond, and an addEventListener/removeEventListener pair per
// dial and per splice was ~4 % of Bun's profile at 4,000 connections/s. A new watch waits in a
// set; a shared ticker (every TICK_MS, unref'd, running only while a watch waits) gives each
// waiting watch a real listener, or calls it at once when its signal fired meanwhile. So an
// abort reaches a young watch at most TICK_MS late; owners that finish inside that window
// check `signal.aborted` themselves when it matters.

const TICK_MS = 20;

interface Watch {
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
  listening: boolean;
}

const waiting = new Set<Watch>();
let timer: ReturnType<typeof setInterval> | undefined;

function tick(): void {
  for (const w of waiting) {
    waiting.delete(w);
    if (w.signal.aborted) {
      try {
        w.onAbort();
      } catch { /* the owner's problem; the others must still get their listener */ }
      continue;
    }
    w.listening = true;
    w.signal.addEventListener("abort", w.onAbort, { once: true });
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
 * Calls `onAbort` once `signal` fires (at most TICK_MS late for a watch younger than a tick).
 * Returns the function that ends the watch; `onAbort` never runs after it.
 */
export function watchAbort(signal: AbortSignal, onAbort: () => void): () => void {
  const w: Watch = { signal, onAbort, listening: false };
  waiting.add(w);
  if (timer === undefined) startTicker();
  return () => {
    if (w.listening) {
      w.listening = false;
      signal.removeEventListener("abort", onAbort);
    } else waiting.delete(w);
  };
}
