// One shared coarse ticker for every splice's idle timeout and every dial's deadline, instead
// of a timer per connection (or per chunk). Entries note their last activity (a dial: its
// start); the sweep ends those idle too long. The ticker is unref'd and stops when nothing is
// registered, so it never keeps the process alive.

export interface IdleEntry {
  /** Set by the owner (Date.now()) whenever a byte moves. */
  lastActivity: number;
  readonly idleMs: number;
  readonly onIdle: () => void;
}

export interface IdleSweeper {
  add(e: IdleEntry): void;
  delete(e: IdleEntry): void;
  readonly size: number;
}

/** Tick period: a quarter of the shortest timeout, between 25 ms and 1 s. */
function periodFor(minIdleMs: number, maxTickMs: number): number {
  return Math.max(25, Math.min(maxTickMs, Math.floor(minIdleMs / 4)));
}

export function createIdleSweeper(o: { maxTickMs?: number } = {}): IdleSweeper {
  const maxTickMs = o.maxTickMs ?? 1000;
  const entries = new Set<IdleEntry>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let period = Infinity;

  function sweep(): void {
    const now = Date.now();
    for (const e of entries) {
      if (now - e.lastActivity >= e.idleMs) {
        entries.delete(e);
        try {
          e.onIdle();
        } catch { /* the owner's problem; the sweep must go on */ }
      }
    }
    if (entries.size === 0) stop();
  }

  function stop(): void {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    period = Infinity;
  }

  function start(p: number): void {
    if (timer !== undefined) clearInterval(timer);
    period = p;
    timer = setInterval(sweep, p);
    // Node-style timers (both runtimes through node:timers semantics) have unref().
    (timer as { unref?: () => void }).unref?.();
    if (typeof timer === "number") {
      (globalThis as { Deno?: { unrefTimer(id: number): void } }).Deno?.unrefTimer(timer);
    }
  }

  return {
    add(e) {
      entries.add(e);
      const p = periodFor(e.idleMs, maxTickMs);
      if (p < period) start(p);
    },
    delete(e) {
      entries.delete(e);
      if (entries.size === 0) stop();
    },
    get size() {
      return entries.size;
    },
  };
}

/** The process-wide sweeper used by both adapters' splice. */
export const idleSweeper: IdleSweeper = createIdleSweeper();
