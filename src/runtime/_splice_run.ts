// Bookkeeping shared by both adapters' splice: byte counters, the idle-timeout entry, the
// abort signal and the one-time finish that closes both sides and resolves the result.
// It is its own idle entry and abort target: an idle proxied connection should hold as few
// objects as possible (each closure is one more).
import { DEFAULTS } from "../defaults.ts";
import { type AbortWatch, watchAbort } from "./_abort_watch.ts";
import { type IdleEntry, idleSweeper } from "./_idle_sweeper.ts";
import type { ByteCounters, SpliceEndReason, SpliceOptions, SpliceResult } from "./types.ts";

/** A side of a splice: closed when it ends, aborted (RST where the runtime can) on an error. */
interface Closable {
  close(): void;
  abort?(): void;
}

export class SpliceRun implements IdleEntry {
  readonly counters: ByteCounters;
  readonly result: Promise<SpliceResult>;
  /** IdleEntry: set whenever a byte moves (only with an idle or half-close timeout). */
  lastActivity = 0;
  /** IdleEntry: the idle timeout; once half-closed, the half-close timeout if shorter. */
  idleMs: number;
  /** One direction has finished and the other not yet (FIN passed on one way only). */
  #halfClosed = false;
  readonly #halfCloseMs: number;
  #done = false;
  #resolve!: (r: SpliceResult) => void;
  #watch: AbortWatch | undefined;
  readonly #a: Closable;
  readonly #b: Closable;

  constructor(o: SpliceOptions, a: Closable, b: Closable) {
    this.counters = o.counters ?? { up: 0, down: 0 };
    this.#a = a;
    this.#b = b;
    this.result = new Promise((r) => (this.#resolve = r));
    this.idleMs = o.idleTimeoutMs && o.idleTimeoutMs > 0 ? o.idleTimeoutMs : 0;
    const hc = o.halfCloseTimeoutMs ?? DEFAULTS.listeners.halfCloseTimeoutMs;
    this.#halfCloseMs = hc > 0 ? hc : 0;
    if (this.idleMs) {
      this.lastActivity = Date.now();
      idleSweeper.add(this);
    }
    if (o.signal) {
      if (o.signal.aborted) queueMicrotask(() => this.finish("aborted"));
      else this.#watch = watchAbort(o.signal, this);
    }
  }

  get done(): boolean {
    return this.#done;
  }

  onIdle(): void {
    this.finish(this.#halfClosed && this.idleMs === this.#halfCloseMs ? "half_close" : "idle");
  }

  /**
   * One direction is over (its FIN was passed on), the other goes on: from now on the
   * connection also ends after halfCloseTimeoutMs without a byte (HAProxy's client-fin and
   * server-fin), so a peer that never finishes cannot hold it for good.
   */
  halfClosed(): void {
    if (this.#halfClosed || this.#done || !this.#halfCloseMs) return;
    this.#halfClosed = true;
    if (this.idleMs && this.idleMs <= this.#halfCloseMs) return;
    if (this.idleMs) idleSweeper.delete(this);
    this.idleMs = this.#halfCloseMs;
    this.lastActivity = Date.now();
    idleSweeper.add(this);
  }

  onAbort(): void {
    this.finish("aborted");
  }

  up(n: number): void {
    this.counters.up += n;
    if (this.idleMs) this.lastActivity = Date.now();
  }

  down(n: number): void {
    this.counters.down += n;
    if (this.idleMs) this.lastActivity = Date.now();
  }

  /**
   * The first call wins: closes both sides, stops timers and resolves. An error (a reset, a
   * broken pipe) is passed on as an abort: the other side gets RST where the runtime can send
   * one, so a truncated stream does not look like a normal end.
   */
  finish(reason: SpliceEndReason, errorSide?: "a" | "b", error?: Error): void {
    if (this.#done) return;
    this.#done = true;
    if (this.idleMs) idleSweeper.delete(this);
    this.#watch?.cancel();
    const abort = reason === "error";
    try {
      if (abort && this.#a.abort) this.#a.abort();
      else this.#a.close();
    } catch { /* closing is best effort */ }
    try {
      if (abort && this.#b.abort) this.#b.abort();
      else this.#b.close();
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
