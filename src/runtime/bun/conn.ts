// A Bun connection: the Conn the rest of sluice sees, over a Transport (a native Bun socket or
// a node:net one, see native.ts and node_transport.ts). Before a splice it queues what arrives
// for read() (preludes); a splice attaches a Sink that receives the events instead.
import { formatHostPort } from "../../net/host_port.ts";
import { SluiceError } from "../../errors.ts";
import { raceSignal } from "../_deadline.ts";
import { toSluiceError } from "../_errors.ts";
import type { Conn, SockAddr } from "../types.ts";

/**
 * The empty list every conn starts with, instead of three fresh arrays each (idle conns should
 * cost little); replaced by a real array before the first push. Frozen, so that a missed
 * replacement throws instead of sharing bytes between conns.
 */
// deno-lint-ignore no-explicit-any
export const NONE: any[] = Object.freeze([]) as unknown as any[];
/** A callback for when nothing needs to know. */
const NOOP = (): void => {};

/** Prelude mode: stop reading from the socket once this much waits unread. */
const PRELUDE_HIGH_WATER = 64 * 1024;

/** What a BunConn needs from a socket, native or node:net. */
export interface Transport {
  /** false: the bytes are kept, but wait for the conn's onDrain() before writing more. */
  write(b: Uint8Array): boolean;
  /** FIN once every kept byte is written; `done` runs then (or when the socket is gone). */
  shutdown(done: () => void): void;
  pause(): void;
  resume(): void;
  close(): void;
  abort(): void;
  setNoDelay(on: boolean): void;
  setKeepAlive(on: boolean): void;
  remoteAddr(): SockAddr;
  localAddr(): SockAddr;
  /** No byte kept for a later write. */
  idle(): boolean;
}

/** Where a spliced conn's events go instead of the prelude queue. */
export interface Sink {
  data(chunk: Uint8Array): void;
  end(): void;
  close(err: Error | undefined): void;
  drain(): void;
}

export class BunConn implements Conn {
  t!: Transport;
  #remote: SockAddr | undefined;
  #local: SockAddr | undefined;
  #queue: Uint8Array[] = NONE;
  #queued = 0;
  #paused = false;
  #eof = false;
  #closed = false;
  #error: Error | undefined;
  #waiter: { resolve: (v: Uint8Array | null) => void; reject: (e: Error) => void } | undefined;
  #drainWaiters: { resolve: () => void; reject: (e: Error) => void }[] = NONE;
  #sink: Sink | undefined;
  #writeClosed = false;
  #finSent: Promise<void> | undefined;
  #finDone: (() => void) | undefined;

  /** Read once from the socket (see readAddresses), then kept. */
  get remote(): SockAddr {
    return this.#remote ??= this.t.remoteAddr();
  }

  get local(): SockAddr {
    return this.#local ??= this.t.localAddr();
  }

  /** The local address known without asking the socket (a listener bound to one IP). */
  knownLocal(local: SockAddr): void {
    this.#local = local;
  }

  /** Both addresses now, while the socket still knows them. */
  readAddresses(): void {
    this.#remote ??= this.t.remoteAddr();
    this.#local ??= this.t.localAddr();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #name(): string {
    return `${formatHostPort(this.remote.host, this.remote.port)}`;
  }

  // ---- transport events
  onData(chunk: Uint8Array): void {
    if (this.#sink) return this.#sink.data(chunk);
    if (this.#waiter && this.#queue.length === 0) {
      const w = this.#waiter;
      this.#waiter = undefined;
      return w.resolve(chunk);
    }
    if (this.#queue === NONE) this.#queue = [];
    this.#queue.push(chunk);
    this.#queued += chunk.byteLength;
    if (this.#queued > PRELUDE_HIGH_WATER && !this.#paused) {
      this.#paused = true;
      this.t.pause();
    }
  }

  onEnd(): void {
    if (this.#eof) return;
    this.#eof = true;
    if (this.#sink) return this.#sink.end();
    this.#wake();
  }

  onClose(err: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    const e = err ? toSluiceError(err, `use ${this.#name()}`) : undefined;
    if (e && !this.#eof) this.#error = e;
    this.#eof = true;
    if (this.#drainWaiters.length) {
      const gone = e ??
        new SluiceError("ECLOSED", `Cannot write to ${this.#name()}: connection closed`);
      for (const w of this.#drainWaiters.splice(0)) w.reject(gone);
    }
    this.#finDone?.();
    if (this.#sink) return this.#sink.close(e);
    this.#wake();
  }

  onDrain(): void {
    if (this.#drainWaiters.length) { for (const w of this.#drainWaiters.splice(0)) w.resolve(); }
    this.#sink?.drain();
  }

  #wake(): void {
    const w = this.#waiter;
    if (!w || this.#queue.length) return;
    this.#waiter = undefined;
    if (this.#error) w.reject(this.#error);
    else w.resolve(null);
  }

  // ---- Conn
  setNoDelay(on: boolean): void {
    if (!this.#closed) this.t.setNoDelay(on);
  }

  setKeepAlive(on: boolean): void {
    if (!this.#closed) this.t.setKeepAlive(on);
  }

  #shift(): Uint8Array | undefined {
    const c = this.#queue.length ? this.#queue.shift() : undefined;
    if (c) {
      this.#queued -= c.byteLength;
      if (this.#paused && this.#queued <= PRELUDE_HIGH_WATER / 2 && !this.#closed) {
        this.#paused = false;
        this.t.resume();
      }
    }
    return c;
  }

  read(o?: { signal?: AbortSignal }): Promise<Uint8Array | null> {
    const c = this.#shift();
    if (c) return Promise.resolve(c);
    if (this.#error) return Promise.reject(this.#error);
    if (this.#eof) return Promise.resolve(null);
    if (this.#waiter) {
      return Promise.reject(
        new SluiceError("EUNKNOWN", `Cannot read from ${this.#name()}: a read is already pending`),
      );
    }
    const p = new Promise<Uint8Array | null>((
      resolve,
      reject,
    ) => (this.#waiter = { resolve, reject }));
    if (!o?.signal) return p;
    const w = this.#waiter;
    return raceSignal(p, o.signal, `read from ${this.#name()}`).catch((e) => {
      // An aborted read leaves the conn usable: later bytes stay queued for the next read.
      if (this.#waiter === w) this.#waiter = undefined;
      throw e;
    });
  }

  unshift(chunk: Uint8Array): void {
    if (!chunk.byteLength) return;
    if (this.#queue === NONE) this.#queue = [];
    this.#queue.unshift(chunk);
    this.#queued += chunk.byteLength;
  }

  write(b: Uint8Array): Promise<void> {
    if (this.#closed || this.#writeClosed) {
      return Promise.reject(
        new SluiceError("ECLOSED", `Cannot write to ${this.#name()}: connection closed`),
      );
    }
    if (this.t.write(b)) return Promise.resolve();
    if (this.#drainWaiters === NONE) this.#drainWaiters = [];
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  /**
   * Splice: sends the FIN now when nothing of ours waits to be written (the common case), with
   * no promise; false when the caller must use closeWrite() and wait.
   */
  shutdownNow(): boolean {
    if (!this.idle()) return false;
    this.#writeClosed = true;
    this.t.shutdown(NOOP);
    return true;
  }

  /** Resolves once the FIN is sent, after every byte written before it. */
  closeWrite(): Promise<void> {
    if (this.#writeClosed || this.#closed) return this.#finSent ?? Promise.resolve();
    this.#writeClosed = true;
    this.#finSent = new Promise((resolve) => {
      this.#finDone = resolve;
      this.t.shutdown(() => {
        this.#finDone = undefined;
        resolve();
      });
    });
    return this.#finSent;
  }

  close(): void {
    if (this.#closed) return;
    this.t.close();
    this.onClose(undefined);
  }

  abort(): void {
    if (this.#closed) return;
    this.t.abort();
    this.onClose(undefined);
  }

  /** Splice mode: queued bytes, FIN and close go to `sink` from now on, in order. */
  attach(sink: Sink): void {
    this.#sink = sink;
    this.#waiter = undefined;
    while (this.#queue.length) sink.data(this.#shift()!);
    this.#queued = 0;
    if (this.#paused && !this.#closed) {
      this.#paused = false;
      this.t.resume();
    }
    if (this.#closed) sink.close(this.#error);
    else if (this.#eof) sink.end();
  }

  /** Splice backpressure, separate from the prelude's own pause. */
  pause(): void {
    if (!this.#closed) this.t.pause();
  }

  resume(): void {
    if (!this.#closed) this.t.resume();
  }

  /** Nothing of ours waits to be written (the kernel has every byte). */
  idle(): boolean {
    return !this.#closed && !this.#writeClosed && this.t.idle();
  }

  /** Write without a promise (splice); false = wait for drain. */
  push(b: Uint8Array): boolean {
    if (this.#closed) return false;
    return this.t.write(b);
  }
}
