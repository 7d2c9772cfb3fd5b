// The Bun implementation of the runtime contract. Sockets are Bun's native callback sockets
// (cheap: ~3 KiB each, no streams). A native Bun.connect cannot be cancelled, though: one that
// lost a timeout race keeps its fd until the kernel gives up (~2 min), while node:net's
// destroy() frees it at once. So a destination is dialed through node:net until it has
// answered once, natively after that, and through node:net again for a while after a native
// dial to it was abandoned; and at most MAX_PENDING_NATIVE native dials wait at once, which
// bounds the fds that abandoned dials can hold. Both kinds sit behind one small Transport so
// a Conn and splice work the same on either.
import { connect as netConnect, isIP, type Socket as NetSocket } from "node:net";
import { SluiceError } from "../../errors.ts";
import { bareHost, sockAddr } from "../_addr.ts";
import {
  bunApi,
  type BunServer,
  type BunSocket,
  type BunSocketHandler,
  type BunTcpListener,
} from "./bun_api.ts";
import { type AbortWatch, watchAbort } from "../_abort_watch.ts";
import { raceSignal } from "../_deadline.ts";
import { fetchError, toSluiceError } from "../_errors.ts";
import { guardSigusr1Bun, onProcessSignal } from "../_signals.ts";
import { genericSplice } from "../_generic_splice.ts";
import { type IdleEntry, idleSweeper } from "../_idle_sweeper.ts";
import { SpliceRun } from "../_splice_run.ts";
import { watchFileInDir } from "../_watch_file.ts";
import type {
  Conn,
  ConnectOptions,
  HttpFetch,
  HttpHandle,
  HttpServeOptions,
  Listener,
  ListenOptions,
  Runtime,
  SockAddr,
  SpliceOptions,
  SpliceResult,
  TlsClientOptions,
} from "../types.ts";

/**
 * The empty list every conn starts with, instead of three fresh arrays each (idle conns should
 * cost little); replaced by a real array before the first push. Frozen, so that a missed
 * replacement throws instead of sharing bytes between conns.
 */
// deno-lint-ignore no-explicit-any
const NONE: any[] = Object.freeze([]) as unknown as any[];
/** A callback for when nothing needs to know. */
const NOOP = (): void => {};

/** Prelude mode: stop reading from the socket once this much waits unread. */
const PRELUDE_HIGH_WATER = 64 * 1024;

/** What a BunConn needs from a socket, native or node:net. */
interface Transport {
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
interface Sink {
  data(chunk: Uint8Array): void;
  end(): void;
  close(err: Error | undefined): void;
  drain(): void;
}

class BunConn implements Conn {
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
    return `${this.remote.host}:${this.remote.port}`;
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

// ---- native Bun sockets (accepted)

type NativeSocket = BunSocket<NativeTransport | undefined>;

class NativeTransport implements Transport {
  /** Set at accept, or when a dial opens. */
  s!: NativeSocket;
  readonly conn: BunConn;
  /** A dial's target: the address to show when the socket no longer tells. */
  readonly target: SockAddr | undefined;
  #pending: Uint8Array[] = NONE;
  #onShut: (() => void) | undefined;
  #gone = false;
  /** A dial's own state until its socket opens or fails. */
  dial: NativeDial | undefined;

  readonly #targetIsIp: boolean;

  constructor(conn: BunConn, target?: SockAddr, targetIsIp = false) {
    this.conn = conn;
    this.target = target;
    this.#targetIsIp = targetIsIp;
    conn.t = this;
  }

  remoteAddr(): SockAddr {
    // A dial to an IP literal reaches that very address: no getpeername() calls for it.
    if (this.#targetIsIp) return this.target!;
    // Bun forgets the remote port once the socket closed.
    const host = this.s?.remoteAddress;
    const port = this.s?.remotePort;
    if ((!host || port === undefined) && this.target) return this.target;
    return sockAddr(host ?? "", port ?? 0);
  }

  localAddr(): SockAddr {
    return sockAddr(this.s?.localAddress ?? "", this.s?.localPort ?? 0);
  }

  write(b: Uint8Array): boolean {
    if (this.#gone) return false;
    if (this.#pending.length) {
      this.#pending.push(b); // not NONE: it has entries
      return false;
    }
    const n = this.s.write(b);
    if (n < b.byteLength) {
      if (this.#pending === NONE) this.#pending = [];
      this.#pending.push(n > 0 ? b.subarray(n) : b);
      return false;
    }
    return true;
  }

  idle(): boolean {
    return !this.#gone && this.#pending.length === 0;
  }

  /** `drain` handler: write what was kept, then FIN if asked, then tell the conn. */
  flush(): void {
    const q = this.#pending;
    while (q.length) {
      const head = q[0]!;
      const n = this.s.write(head);
      if (n < head.byteLength) {
        if (n > 0) q[0] = head.subarray(n);
        return;
      }
      q.shift();
    }
    const shut = this.#onShut;
    if (shut) {
      this.#onShut = undefined;
      this.s.shutdown();
      shut();
    }
    this.conn.onDrain();
  }

  shutdown(done: () => void): void {
    if (this.#gone) return done();
    if (this.#pending.length) return void (this.#onShut = done);
    this.s.shutdown();
    done();
  }

  pause(): void {
    this.s.pause();
  }

  resume(): void {
    this.s.resume();
  }

  close(): void {
    this.closed();
    this.s.end();
  }

  abort(): void {
    this.closed();
    this.s.terminate();
  }

  setNoDelay(on: boolean): void {
    this.s.setNoDelay(on);
  }

  setKeepAlive(on: boolean): void {
    this.s.setKeepAlive(on, 0);
  }

  closed(): void {
    this.#gone = true;
    if (this.#pending !== NONE) this.#pending.length = 0;
    const shut = this.#onShut;
    this.#onShut = undefined;
    shut?.();
  }
}

function nativeHandlers(
  onOpen: (s: NativeSocket) => void,
): BunSocketHandler<NativeTransport | undefined> {
  return {
    binaryType: "uint8array",
    open: onOpen,
    data(s, d) {
      s.data?.conn.onData(d);
    },
    drain(s) {
      s.data?.flush();
    },
    end(s) {
      s.data?.conn.onEnd();
    },
    close(s, err) {
      s.data?.closed();
      s.data?.conn.onClose(err);
    },
    error(s, err) {
      // Handler exceptions and TLS failures: the socket is unusable.
      s.data?.closed();
      s.data?.conn.onClose(err);
    },
  };
}

function listen(o: ListenOptions, onConn: (c: Conn) => void): Listener {
  let closed = false;
  let srv: BunTcpListener;
  // A listener bound to one address accepts every conn on that address and port: no two
  // getsockname() calls per conn for it (only a wildcard bind needs them).
  let local: SockAddr | undefined;
  const handlers = nativeHandlers((s) => {
    const conn = new BunConn();
    const t = new NativeTransport(conn);
    t.s = s;
    s.data = t;
    if (local) conn.knownLocal(local);
    // An accepted conn's addresses are wanted at once (the proxy logs and hashes the client).
    conn.readAddresses();
    try {
      onConn(conn);
    } catch {
      conn.close();
    }
  });
  try {
    srv = bunApi().listen<NativeTransport | undefined>({
      hostname: bareHost(o.host),
      port: o.port,
      allowHalfOpen: true,
      data: undefined,
      socket: handlers,
      ...(o.reusePort ? { reusePort: true } : {}),
      ...(o.backlog ? { backlog: o.backlog } : {}),
    });
  } catch (e) {
    throw toSluiceError(e, `listen on ${o.host}:${o.port}`);
  }
  const host = bareHost(o.host);
  if (isIP(host) !== 0 && !/^[0.:]+$/.test(host)) local = sockAddr(host, srv.port);
  return {
    addr: sockAddr(srv.hostname, srv.port),
    close() {
      if (closed) return;
      closed = true;
      // stop(true) would also kill the accepted sockets.
      srv.stop(false);
    },
  };
}

// ---- node:net sockets (dialed)

class NodeTransport implements Transport {
  readonly s: NetSocket;
  readonly target: SockAddr;

  readonly #remote: SockAddr;
  readonly #local: SockAddr;

  constructor(s: NetSocket, conn: BunConn, target: SockAddr) {
    this.s = s;
    this.target = target;
    // node:net forgets both addresses once destroyed: read them now (a destination's first
    // dial only; later ones are native).
    this.#remote = s.remoteAddress ? sockAddr(s.remoteAddress, s.remotePort ?? 0) : target;
    this.#local = sockAddr(s.localAddress ?? "", s.localPort ?? 0);
    conn.t = this;
    let err: Error | undefined;
    s.on("data", (d: Uint8Array) => conn.onData(d));
    s.on("end", () => conn.onEnd());
    s.on("drain", () => conn.onDrain());
    s.on("error", (e: Error) => (err = e));
    s.on("close", () => conn.onClose(err));
  }

  write(b: Uint8Array): boolean {
    if (this.s.destroyed) return false;
    return this.s.write(b);
  }

  idle(): boolean {
    return !this.s.destroyed && this.s.writableLength === 0;
  }

  shutdown(done: () => void): void {
    if (this.s.destroyed) return done();
    // end() flushes node's write queue first; its callback runs once the FIN is out. A
    // destroy() in between emits "close", not the callback: catch that too.
    let called = false;
    const once = () => {
      if (called) return;
      called = true;
      this.s.off("close", once);
      done();
    };
    this.s.once("close", once);
    this.s.end(once);
  }

  pause(): void {
    this.s.pause();
  }

  resume(): void {
    this.s.resume();
  }

  close(): void {
    this.s.destroy();
  }

  abort(): void {
    const s = this.s as NetSocket & { resetAndDestroy?: () => void };
    if (typeof s.resetAndDestroy === "function") s.resetAndDestroy();
    else s.destroy();
  }

  setNoDelay(on: boolean): void {
    this.s.setNoDelay(on);
  }

  setKeepAlive(on: boolean): void {
    this.s.setKeepAlive(on);
  }

  remoteAddr(): SockAddr {
    return this.#remote;
  }

  localAddr(): SockAddr {
    return this.#local;
  }
}

/** Native dials waiting for their answer at most at once (see the top of the file). */
const MAX_PENDING_NATIVE = 256;
let pendingNative = 0;
/**
 * A destination that answered a dial: dialed natively while listed. It also keeps what every
 * dial to it would otherwise work out again (its address object, whether the host is an IP).
 */
interface Destination {
  readonly host: string;
  readonly port: number;
  readonly target: SockAddr;
  readonly targetIsIp: boolean;
}
/** host -> port -> destination: a lookup per dial builds no key string. */
const answered = new Map<string, Map<number, Destination>>();
/** Every listed destination, oldest first, for the bound below. */
const answeredOrder = new Set<Destination>();
const MAX_ANSWERED = 4096;

function findAnswered(host: string, port: number): Destination | undefined {
  return answered.get(host)?.get(port);
}

function markAnswered(host: string, port: number): void {
  if (findAnswered(host, port)) return;
  const target = sockAddr(host, port);
  const d: Destination = { host, port, target, targetIsIp: isIP(target.host) !== 0 };
  let ports = answered.get(host);
  if (!ports) answered.set(host, ports = new Map());
  ports.set(port, d);
  answeredOrder.add(d);
  if (answeredOrder.size > MAX_ANSWERED) forgetAnswered(answeredOrder.values().next().value!);
}

function forgetAnswered(d: Destination): void {
  if (!answeredOrder.delete(d)) return;
  const ports = answered.get(d.host);
  ports?.delete(d.port);
  if (ports?.size === 0) answered.delete(d.host);
}

function connect(o: ConnectOptions): Promise<Conn> {
  if (o.signal?.aborted) return Promise.reject(aborted(o));
  const host = bareHost(o.host);
  const d = pendingNative < MAX_PENDING_NATIVE ? findAnswered(host, o.port) : undefined;
  return d ? nativeConnect(o, d) : nodeConnect(o, host);
}

function timedOut(o: ConnectOptions): SluiceError {
  return new SluiceError(
    "ETIMEDOUT",
    `Cannot connect to ${o.host}:${o.port}: timed out after ${o.timeoutMs} ms`,
  );
}

function aborted(o: ConnectOptions): SluiceError {
  return new SluiceError("ABORTED", `Cannot connect to ${o.host}:${o.port}: aborted`);
}

/**
 * A native dial in flight: settled once, by the socket, its deadline or the signal. It is its
 * own deadline entry (the shared sweeper, not a timer per dial) and abort target.
 */
class NativeDial implements IdleEntry {
  settled = false;
  /** Bun reported the dial's end (open or failure): it no longer counts as pending. */
  #over = false;
  /** IdleEntry: when the dial started; the sweeper ends it `idleMs` later. */
  readonly lastActivity = Date.now();
  readonly idleMs: number;
  readonly t: NativeTransport;
  readonly #o: ConnectOptions;
  readonly #dest: Destination;
  readonly #resolve: (c: Conn) => void;
  readonly #reject: (e: Error) => void;
  readonly #watch: AbortWatch | undefined;

  constructor(
    o: ConnectOptions,
    dest: Destination,
    t: NativeTransport,
    resolve: (c: Conn) => void,
    reject: (e: Error) => void,
  ) {
    this.#o = o;
    this.#dest = dest;
    this.t = t;
    this.#resolve = resolve;
    this.#reject = reject;
    pendingNative++;
    this.idleMs = o.timeoutMs;
    idleSweeper.add(this);
    this.#watch = o.signal && watchAbort(o.signal, this);
  }

  onIdle(): void {
    this.#abandon(timedOut(this.#o));
  }

  onAbort(): void {
    this.#abandon(aborted(this.#o));
  }

  #end(): void {
    if (this.#over) return;
    this.#over = true;
    pendingNative--;
  }

  #settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    idleSweeper.delete(this);
    this.#watch?.cancel();
    return true;
  }

  /** Timed out or aborted: the socket cannot be cancelled, so it is closed once it opens. */
  #abandon(e: SluiceError): void {
    if (!this.#settle()) return;
    // The destination may be a black hole: dial it through node:net for a while.
    forgetAnswered(this.#dest);
    this.#reject(e);
  }

  opened(s: NativeSocket): void {
    this.#end();
    // An abort the lazy watch has not passed on yet still wins.
    if (this.#o.signal?.aborted) this.#abandon(aborted(this.#o));
    if (!this.#settle()) {
      s.data = undefined;
      s.terminate();
      return;
    }
    this.t.s = s;
    // Now, while the socket knows them: Bun forgets addresses once a socket is closed, and
    // logs name closed conns.
    this.t.conn.readAddresses();
    this.#resolve(this.t.conn);
  }

  failed(e: unknown): void {
    this.#end();
    if (!this.#settle()) return;
    this.#reject(toSluiceError(e, `connect to ${this.#o.host}:${this.#o.port}`));
  }
}

/** The dial of a transport whose socket has not opened yet, taken once (a field, not a map). */
function takeDial(t: NativeTransport | undefined): NativeDial | undefined {
  const d = t?.dial;
  if (d) t.dial = undefined;
  return d;
}

const dialHandlers: BunSocketHandler<NativeTransport | undefined> = {
  ...nativeHandlers((s) => {
    const d = takeDial(s.data);
    if (!d) return void s.terminate();
    d.opened(s);
  }),
  connectError(s, err) {
    takeDial(s.data)?.failed(err);
  },
};

function nativeConnect(o: ConnectOptions, dest: Destination): Promise<Conn> {
  return new Promise<Conn>((resolve, reject) => {
    const t = new NativeTransport(new BunConn(), dest.target, dest.targetIsIp);
    const d = new NativeDial(o, dest, t, resolve, reject);
    t.dial = d;
    try {
      bunApi().connect<NativeTransport | undefined>({
        hostname: dest.host,
        port: dest.port,
        allowHalfOpen: true,
        data: t,
        socket: dialHandlers,
      }).catch((e) => takeDial(t)?.failed(e));
    } catch (e) {
      takeDial(t)?.failed(e);
    }
  });
}

function nodeConnect(o: ConnectOptions, host: string): Promise<Conn> {
  return new Promise<Conn>((resolve, reject) => {
    const s = netConnect({ host, port: o.port, allowHalfOpen: true, noDelay: true });
    const fail = (e: SluiceError) => {
      cleanup();
      s.destroy(); // frees the fd even while the SYN is unanswered
      reject(e);
    };
    // The deadline is an entry of the shared sweeper, as a native dial's is.
    const deadline: IdleEntry = {
      lastActivity: Date.now(),
      idleMs: o.timeoutMs,
      onIdle: () => fail(timedOut(o)),
    };
    idleSweeper.add(deadline);
    const onError = (e: Error) => fail(toSluiceError(e, `connect to ${o.host}:${o.port}`));
    const onConnect = () => {
      if (o.signal?.aborted) return fail(aborted(o));
      cleanup();
      markAnswered(host, o.port);
      const conn = new BunConn();
      new NodeTransport(s, conn, sockAddr(host, o.port));
      resolve(conn);
    };
    const watch = o.signal && watchAbort(o.signal, () => fail(aborted(o)));
    function cleanup() {
      idleSweeper.delete(deadline);
      watch?.cancel();
      s.off("error", onError);
      s.off("connect", onConnect);
    }
    s.once("error", onError);
    s.once("connect", onConnect);
  });
}

// ---- splice

/** What both directions of one splice share. */
class SpliceState {
  /** Directions not finished yet. */
  open = 2;
  readonly run: SpliceRun;
  readonly up: SpliceDirection;
  readonly down: SpliceDirection;

  constructor(a: BunConn, b: BunConn, o: SpliceOptions) {
    this.run = new SpliceRun(o, a, b);
    this.up = new SpliceDirection(this, a, b, "a");
    this.down = new SpliceDirection(this, b, a, "b");
  }
}

/**
 * One direction, src -> dst, as src's sink. Methods on the prototype rather than closures per
 * connection: an idle proxied connection costs its objects' memory, nothing else.
 */
class SpliceDirection implements Sink {
  readonly #s: SpliceState;
  readonly #src: BunConn;
  readonly #dst: BunConn;
  readonly #srcSide: "a" | "b";
  #eof = false;
  /** dst has every byte and the FIN (or the splice ended because of this direction). */
  finished = false;
  /** dst refused more: src is paused until dst drains */
  #waiting = false;

  constructor(s: SpliceState, src: BunConn, dst: BunConn, srcSide: "a" | "b") {
    this.#s = s;
    this.#src = src;
    this.#dst = dst;
    this.#srcSide = srcSide;
  }

  data(chunk: Uint8Array): void {
    const run = this.#s.run;
    if (run.done) return;
    if (this.#srcSide === "a") run.up(chunk.byteLength);
    else run.down(chunk.byteLength);
    const dst = this.#dst;
    if (!dst.push(chunk)) {
      if (dst.closed) {
        return run.finish(
          "error",
          this.#srcSide === "a" ? "b" : "a",
          new SluiceError(
            "EPIPE",
            `Cannot write to ${dst.remote.host}:${dst.remote.port}: connection closed`,
          ),
        );
      }
      this.#waiting = true;
      this.#src.pause();
    }
  }

  end(): void {
    const s = this.#s;
    if (this.#eof || s.run.done) return;
    this.#eof = true;
    if (s.open === 1 && this.#dst.idle()) {
      // The other direction is over and dst holds no byte of ours: the close that finish()
      // does sends the FIN, without a shutdown() call of its own.
      s.open = 0;
      this.finished = true;
      return s.run.finish("eof");
    }
    // The direction is done only once dst has every byte and the FIN: finishing earlier
    // would close dst with bytes still queued for it.
    if (this.#dst.shutdownNow()) {
      this.finished = true;
      if (--s.open === 0) s.run.finish("eof");
      else s.run.halfClosed();
      return;
    }
    void this.#dst.closeWrite().then(() => {
      this.finished = true;
      if (--s.open === 0) s.run.finish("eof");
      else s.run.halfClosed();
    });
  }

  close(err: Error | undefined): void {
    const s = this.#s;
    if (s.run.done) return;
    if (err) return s.run.finish("error", this.#srcSide, err);
    // src is gone without an error: a FIN after ours, or a reset Bun did not name (seen when
    // the peer closed with unread data while our writes to it were queued). If the direction
    // writing into src has not delivered its FIN yet, its bytes have nowhere to go and it
    // would wait for a drain that never comes, with its own source paused: end the splice.
    if (!(this.#srcSide === "a" ? s.down : s.up).finished) {
      const src = this.#src.remote;
      return s.run.finish(
        "error",
        this.#srcSide,
        new SluiceError(
          "ECONNRESET",
          `Cannot write to ${src.host}:${src.port}: connection closed by the peer`,
        ),
      );
    }
    this.end();
  }

  drain(): void {
    // src drained, so the direction writing INTO src may go on.
    (this.#srcSide === "a" ? this.#s.down : this.#s.up).resumeSrc();
  }

  resumeSrc(): void {
    if (this.#waiting) {
      this.#waiting = false;
      this.#src.resume();
    }
  }
}

function splice(ca: Conn, cb: Conn, o: SpliceOptions = {}): Promise<SpliceResult> {
  if (!(ca instanceof BunConn) || !(cb instanceof BunConn)) return genericSplice(ca, cb, o);
  const s = new SpliceState(ca, cb, o);
  if (ca.closed || cb.closed) {
    s.run.finish(
      "error",
      ca.closed ? "a" : "b",
      new SluiceError("ECLOSED", "Cannot splice: connection already closed"),
    );
    return s.run.result;
  }
  ca.attach(s.up);
  if (!s.run.done) cb.attach(s.down);
  return s.run.result;
}

// ---- HTTP

function serveHttp(
  o: HttpServeOptions,
  fetch: (r: Request, info: { remote: SockAddr | undefined }) => Response | Promise<Response>,
): Promise<HttpHandle> {
  let server: BunServer;
  try {
    server = bunApi().serve({
      hostname: bareHost(o.host),
      port: o.port,
      // Bun's default 10 s idle timeout cuts long polls and makes clients retry (matrix row 10).
      idleTimeout: 0,
      fetch(req, srv) {
        const ip = srv.requestIP(req);
        return fetch(req, { remote: ip ? sockAddr(ip.address, ip.port) : undefined });
      },
    });
  } catch (e) {
    return Promise.reject(toSluiceError(e, `listen for HTTP on ${o.host}:${o.port}`));
  }
  let closing: Promise<void> | undefined;
  return Promise.resolve({
    port: server.port ?? o.port,
    host: sockAddr(server.hostname ?? o.host, 0).host,
    close(c) {
      if (c?.force) return server.stop(true);
      closing ??= server.stop(false);
      return closing;
    },
  });
}

function httpClient(tls?: TlsClientOptions): HttpFetch {
  const plain = !tls || (!tls.ca?.length && !tls.cert && !tls.key && !tls.insecure);
  const opts: Record<string, unknown> = {};
  if (!plain) {
    if (tls.ca?.length) opts.ca = tls.ca;
    if (tls.cert) opts.cert = tls.cert;
    if (tls.key) opts.key = tls.key;
    if (tls.insecure) opts.rejectUnauthorized = false;
  }
  return async (url, init) => {
    try {
      return await fetch(url, plain ? init : ({ ...init, tls: opts } as RequestInit));
    } catch (e) {
      throw fetchError(e, url);
    }
  };
}

guardSigusr1Bun();

export const bunRuntime: Runtime = {
  name: "bun",
  get version() {
    return bunApi().version;
  },
  listen,
  connect,
  splice,
  serveHttp,
  httpClient,
  onSignal: onProcessSignal,
  watchFile: watchFileInDir,
};
