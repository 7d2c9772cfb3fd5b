// Bookkeeping shared by both adapters' splice: byte counters, the idle-timeout entry, the
// abort signal and the one-time finish that closes both sides and resolves the result.
import { watchAbort } from "./_abort_watch.ts";
import { type IdleEntry, idleSweeper } from "./_idle_sweeper.ts";
import type { ByteCounters, SpliceEndReason, SpliceOptions, SpliceResult } from "./types.ts";

export class SpliceRun {
  readonly counters: ByteCounters;
  readonly result: Promise<SpliceResult>;
  #done = false;
  #resolve!: (r: SpliceResult) => void;
  #idle: IdleEntry | undefined;
  #unwatch: (() => void) | undefined;
  #closeBoth: () => void;

  constructor(o: SpliceOptions, closeBoth: () => void) {
    this.counters = o.counters ?? { up: 0, down: 0 };
    this.#closeBoth = closeBoth;
    this.result = new Promise((r) => (this.#resolve = r));
    if (o.idleTimeoutMs && o.idleTimeoutMs > 0) {
      this.#idle = {
        lastActivity: Date.now(),
        idleMs: o.idleTimeoutMs,
        onIdle: () => this.finish("idle"),
      };
      idleSweeper.add(this.#idle);
    }
    if (o.signal) {
      if (o.signal.aborted) queueMicrotask(() => this.finish("aborted"));
      else this.#unwatch = watchAbort(o.signal, () => this.finish("aborted"));
    }
  }

  get done(): boolean {
    return this.#done;
  }

  up(n: number): void {
    this.counters.up += n;
    if (this.#idle) this.#idle.lastActivity = Date.now();
  }

  down(n: number): void {
    this.counters.down += n;
    if (this.#idle) this.#idle.lastActivity = Date.now();
  }

  /** The first call wins: closes both sides, stops timers and resolves. */
  finish(reason: SpliceEndReason, errorSide?: "a" | "b", error?: Error): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#idle) idleSweeper.delete(this.#idle);
    this.#unwatch?.();
    try {
      this.#closeBoth();
    } catch { /* closing is best effort */ }
    const r: {
      up: number;
      down: number;
      reason: SpliceEndReason;
      errorSide?: "a" | "b";
      error?: Error;
    } = {
      up: this.counters.up,
      down: this.counters.down,
      reason,
    };
    if (errorSide) r.errorSide = errorSide;
    if (error) r.error = error;
    this.#resolve(r);
  }
}
