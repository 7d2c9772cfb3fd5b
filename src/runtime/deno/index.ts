// The Deno implementation of the runtime contract: Deno.listen/connect, a read/write loop per
// splice direction (pipeTo breaks half-close), Deno.serve, Deno.createHttpClient.
// Every TCP connection (accepted or dialed) gets setNoDelay(true): Deno leaves Nagle on by
// default while Bun turns it off, and a proxy must not add Nagle delays to small writes.
import { SluiceError } from "../../errors.ts";
import { createLogger } from "../../log.ts";
import { bareHost, sockAddr } from "../_addr.ts";
import { createBufferPool } from "../_buffer_pool.ts";
import { watchAbort } from "../_abort_watch.ts";
import { raceSignal } from "../_deadline.ts";
import { fetchError, toSluiceError } from "../_errors.ts";
import { nodeHttpsFetch } from "../_node_https_fetch.ts";
import { nodeServeHttp } from "./http_server.ts";
import inspector from "node:inspector";
import process from "node:process";
import { onProcessSignal } from "../_signals.ts";
import { genericSplice } from "../_generic_splice.ts";
import { type IdleEntry, idleSweeper } from "../_idle_sweeper.ts";
import { SpliceRun } from "../_splice_run.ts";
import { watchFileInDir } from "../_watch_file.ts";
import type {
  Conn,
  ConnectOptions,
  HttpFetch,
  Listener,
  ListenOptions,
  Runtime,
  SignalName,
  SockAddr,
  SpliceOptions,
  SpliceResult,
  TlsClientOptions,
} from "../types.ts";

/**
 * Per-direction read buffer while a connection is quiet; small so idle conns stay cheap.
 * Measured (1,000 idle spliced conns, client and backend in the same process): 4 KiB -> 34,
 * 8 KiB -> 44, 16 KiB -> 60, 64 KiB -> 142 KiB per connection; the bench's idle test (proxy
 * only, 1,000-9,850 conns) read 26-28 KiB at 4 KiB and 23-24 at 2 KiB. A full small read
 * switches the direction to a pooled 64 KiB buffer, so throughput does not suffer.
 */
const SMALL_BUFFER = 2 * 1024;
/** Prelude reads (PROXY header, SOCKS5 replies) are small. */
const PRELUDE_BUFFER = 16 * 1024;
const log = createLogger("runtime");
/** Lent from the pool while data flows, returned as soon as a read comes back short. */
const pool = createBufferPool({ size: 64 * 1024, keep: 64 });

function netAddr(a: Deno.Addr): SockAddr {
  const n = a as Deno.NetAddr;
  return sockAddr(n.hostname ?? "", n.port ?? 0);
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch { /* already closed */ }
}

class DenoConn implements Conn {
  readonly raw: Deno.TcpConn;
  #remote: SockAddr | undefined;
  #local: SockAddr | undefined;
  #unshifted: Uint8Array[] = [];
  /** A read whose result nobody took yet (its caller aborted): the next read gets it. */
  #pending: Promise<Uint8Array | null> | undefined;
  /** A caller is awaiting a read right now (a second concurrent read is refused). */
  #reading = false;
  #closed = false;
  #writeClosed = false;

  constructor(raw: Deno.TcpConn) {
    this.raw = raw;
    try {
      raw.setNoDelay(true);
    } catch { /* the peer may already be gone */ }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Our FIN went out (closeWrite) or the conn is closed. */
  get writeClosed(): boolean {
    return this.#writeClosed || this.#closed;
  }

  /** Normalised on first use (Deno keeps the raw addresses after close too). */
  get remote(): SockAddr {
    return this.#remote ??= netAddr(this.raw.remoteAddr);
  }

  get local(): SockAddr {
    return this.#local ??= netAddr(this.raw.localAddr);
  }

  setNoDelay(on: boolean): void {
    try {
      this.raw.setNoDelay(on);
    } catch { /* closed */ }
  }

  setKeepAlive(on: boolean): void {
    try {
      this.raw.setKeepAlive(on);
    } catch { /* closed */ }
  }

  async #rawRead(): Promise<Uint8Array | null> {
    const buf = new Uint8Array(PRELUDE_BUFFER);
    let n: number | null;
    try {
      n = await this.raw.read(buf);
    } catch (e) {
      throw toSluiceError(e, `read from ${this.remote.host}:${this.remote.port}`);
    }
    if (n === null) return null;
    // Copy short reads so a kept chunk does not pin the whole 16 KiB buffer.
    return n < 4096 ? buf.slice(0, n) : buf.subarray(0, n);
  }

  async read(o?: { signal?: AbortSignal }): Promise<Uint8Array | null> {
    const u = this.#unshifted.shift();
    if (u) return u;
    if (this.#reading) {
      throw new SluiceError(
        "EUNKNOWN",
        `Cannot read from ${this.remote.host}:${this.remote.port}: a read is already pending`,
      );
    }
    if (!this.#pending) {
      const p = this.#rawRead();
      p.catch(() => {}); // observed by whoever takes it; never an unhandled rejection
      this.#pending = p;
    }
    const p = this.#pending;
    this.#reading = true;
    try {
      const r = await raceSignal(p, o?.signal, `read from ${this.remote.host}:${this.remote.port}`);
      if (this.#pending === p) this.#pending = undefined;
      return r;
    } catch (e) {
      // A failed read is consumed; an aborted one stays pending for the next read().
      if (this.#pending === p && !(o?.signal?.aborted)) this.#pending = undefined;
      throw e;
    } finally {
      this.#reading = false;
    }
  }

  unshift(chunk: Uint8Array): void {
    if (chunk.byteLength) this.#unshifted.unshift(chunk);
  }

  /** For splice: bytes given back plus a read still in flight, taken out of the conn. */
  takePrelude(): { chunks: Uint8Array[]; pending: Promise<Uint8Array | null> | undefined } {
    const r = { chunks: this.#unshifted, pending: this.#pending };
    this.#unshifted = [];
    this.#pending = undefined;
    return r;
  }

  async write(b: Uint8Array): Promise<void> {
    try {
      for (let off = 0; off < b.byteLength;) off += await this.raw.write(b.subarray(off));
    } catch (e) {
      throw toSluiceError(e, `write to ${this.remote.host}:${this.remote.port}`);
    }
  }

  async closeWrite(): Promise<void> {
    if (this.#writeClosed || this.#closed) return;
    this.#writeClosed = true;
    try {
      await this.raw.closeWrite();
    } catch (e) {
      throw toSluiceError(e, `close the write side to ${this.remote.host}:${this.remote.port}`);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.raw);
  }

  /** Deno offers no SO_LINGER: a plain close. */
  abort(): void {
    this.close();
  }
}

function bind(o: ListenOptions): Deno.TcpListener {
  const opts: Deno.TcpListenOptions & { transport: "tcp"; reusePort?: boolean } = {
    transport: "tcp",
    hostname: bareHost(o.host),
    port: o.port,
    tcpBacklog: o.backlog ?? 511,
  };
  if (o.reusePort) opts.reusePort = true;
  return Deno.listen(opts);
}

/**
 * Ports of listeners closed in this process whose socket is not released yet: Deno frees
 * the fd only when the pending accept() op unwinds, one event-loop turn after close().
 */
const releasing = new Map<number, Promise<void>>();

/** The longest pause between accept attempts while they fail (EMFILE). */
const ACCEPT_BACKOFF_MAX_MS = 1000;

function acceptLoop(l: Deno.TcpListener, onConn: (c: Conn) => void): Listener {
  let closed = false;
  const port = (l.addr as Deno.NetAddr).port;
  const la = l.addr as Deno.NetAddr;
  const loop = (async () => {
    let backoffMs = 0;
    while (!closed) {
      let c: Deno.TcpConn;
      try {
        c = await l.accept();
      } catch (e) {
        if (closed || e instanceof Deno.errors.BadResource) return;
        // EMFILE and friends: logged once per streak, backed off 10 ms -> 1 s, survived.
        if (!backoffMs) {
          log.warn("accept failed; backing off", {
            listener: `${la.hostname}:${port}`,
            error: toSluiceError(e, "accept").message,
          });
        }
        backoffMs = Math.min(ACCEPT_BACKOFF_MAX_MS, backoffMs ? backoffMs * 2 : 10);
        await new Promise((r) => setTimeout(r, backoffMs));
        continue;
      }
      if (backoffMs) {
        backoffMs = 0;
        log.info("accepting again", { listener: `${la.hostname}:${port}` });
      }
      if (closed) {
        closeQuietly(c);
        return;
      }
      try {
        onConn(new DenoConn(c));
      } catch {
        closeQuietly(c);
      }
    }
  })();
  return {
    addr: netAddr(l.addr),
    close() {
      if (closed) return;
      closed = true;
      closeQuietly(l);
      const released: Promise<void> = loop.then(() => {
        if (releasing.get(port) === released) releasing.delete(port);
      });
      releasing.set(port, released);
    },
  };
}

/**
 * The port was closed by this process a moment ago and Deno has not released it yet: bind
 * as soon as it is free (within one event-loop turn), so "close, then listen on the same
 * port" works as on Bun. Connections arriving in that turn meet the old socket.
 */
function deferredListen(
  o: ListenOptions,
  onConn: (c: Conn) => void,
  released: Promise<void>,
): Listener {
  let closed = false;
  let inner: Listener | undefined;
  const attempt = (left: number) => {
    if (closed) return;
    try {
      inner = acceptLoop(bind(o), onConn);
    } catch (e) {
      if (left > 0) setTimeout(() => attempt(left - 1), 10);
      else {log.warn("deferred listen failed", {
          listener: `${o.host}:${o.port}`,
          error: toSluiceError(e, "listen").message,
        });}
    }
  };
  released.then(() => attempt(100));
  return {
    addr: sockAddr(bareHost(o.host), o.port),
    close() {
      if (closed) return;
      closed = true;
      inner?.close();
    },
  };
}

function listen(o: ListenOptions, onConn: (c: Conn) => void): Listener {
  let l: Deno.TcpListener;
  try {
    l = bind(o);
  } catch (e) {
    const err = toSluiceError(e, `listen on ${o.host}:${o.port}`);
    const released = o.port ? releasing.get(o.port) : undefined;
    if (err.code === "EADDRINUSE" && released) return deferredListen(o, onConn, released);
    throw err;
  }
  return acceptLoop(l, onConn);
}

/**
 * What ends a dial early: its deadline (an entry of the shared sweeper, not a timer per dial)
 * or the caller's signal. Deno.connect can only be cancelled through a signal of its own.
 */
class DialDeadline implements IdleEntry {
  readonly ac = new AbortController();
  readonly lastActivity = Date.now();
  readonly idleMs: number;
  timedOut = false;

  constructor(timeoutMs: number) {
    this.idleMs = timeoutMs;
    idleSweeper.add(this);
  }

  onIdle(): void {
    this.timedOut = true;
    this.ac.abort();
  }

  onAbort(): void {
    this.ac.abort();
  }
}

async function connect(o: ConnectOptions): Promise<Conn> {
  const action = `connect to ${o.host}:${o.port}`;
  if (o.signal?.aborted) throw new SluiceError("ABORTED", `Cannot ${action}: aborted`);
  const deadline = new DialDeadline(o.timeoutMs);
  const watch = o.signal && watchAbort(o.signal, deadline);
  try {
    const raw = await Deno.connect({
      hostname: bareHost(o.host),
      port: o.port,
      transport: "tcp",
      signal: deadline.ac.signal,
    });
    if (o.signal?.aborted) {
      // Aborted while the lazy watch had not passed it on yet: the abort still wins.
      closeQuietly(raw);
      throw new SluiceError("ABORTED", `Cannot ${action}: aborted`);
    }
    return new DenoConn(raw);
  } catch (e) {
    if (e instanceof SluiceError) throw e;
    if (deadline.timedOut) {
      throw new SluiceError("ETIMEDOUT", `Cannot ${action}: timed out after ${o.timeoutMs} ms`);
    }
    if (o.signal?.aborted) {
      throw new SluiceError("ABORTED", `Cannot ${action}: aborted`, { cause: e });
    }
    throw toSluiceError(e, action);
  } finally {
    idleSweeper.delete(deadline);
    watch?.cancel();
  }
}

class WriteFailed {
  constructor(readonly error: unknown) {}
}

const EMPTY = new Uint8Array(0);

/**
 * Deno reports a reset on read as a plain end (null), so a truncated stream would look like a
 * FIN. A zero-length write tells them apart: it fails (BrokenPipe) on a reset socket and
 * succeeds after a FIN. One op per direction, at its end only. Not possible once our own FIN
 * went out to src (the write fails either way): then the end stays an end.
 */
async function checkEnd(src: DenoConn): Promise<void> {
  if (src.writeClosed) return;
  try {
    await src.raw.write(EMPTY);
  } catch (e) {
    throw new SluiceError(
      "ECONNRESET",
      `Cannot read from ${src.remote.host}:${src.remote.port}: connection reset by the peer`,
      { cause: e },
    );
  }
}

async function writeAll(dst: Deno.TcpConn, b: Uint8Array): Promise<void> {
  try {
    for (let off = 0; off < b.byteLength;) off += await dst.write(b.subarray(off));
  } catch (e) {
    throw new WriteFailed(e);
  }
}

/**
 * One direction: prelude leftovers first, then read/write until FIN, then closeWrite().
 * Reads go into a small buffer while quiet and into a pooled 64 KiB one while data flows.
 */
async function pump(
  src: DenoConn,
  dst: DenoConn,
  count: (n: number) => void,
  run: SpliceRun,
): Promise<void> {
  const { chunks, pending } = src.takePrelude();
  for (const c of chunks) {
    await writeAll(dst.raw, c);
    count(c.byteLength);
  }
  if (pending) {
    const c = await pending;
    if (c === null) return checkEnd(src);
    await writeAll(dst.raw, c);
    count(c.byteLength);
  }
  const small = new Uint8Array(SMALL_BUFFER);
  let big: Uint8Array | undefined;
  try {
    while (!run.done) {
      const buf = big ?? small;
      const n = await src.raw.read(buf);
      if (n === null) return checkEnd(src);
      const chunk = n === buf.byteLength ? buf : buf.subarray(0, n);
      // Nearly every write takes the whole chunk: one op and no helper frame per chunk then.
      let w: number;
      try {
        w = await dst.raw.write(chunk);
      } catch (e) {
        throw new WriteFailed(e);
      }
      if (w < n) await writeAll(dst.raw, chunk.subarray(w));
      count(n);
      if (!big) {
        if (n === buf.byteLength) big = pool.get();
      } else if (n < buf.byteLength) {
        pool.release(big);
        big = undefined;
      }
    }
  } finally {
    if (big) pool.release(big);
  }
}

function asError(e: unknown, action: string): Error {
  return toSluiceError(e, action);
}

function splice(ca: Conn, cb: Conn, o: SpliceOptions = {}): Promise<SpliceResult> {
  if (!(ca instanceof DenoConn) || !(cb instanceof DenoConn)) return genericSplice(ca, cb, o);
  const a = ca;
  const b = cb;
  const run = new SpliceRun(o, a, b);
  let open = 2;
  function direction(src: DenoConn, dst: DenoConn, srcSide: "a" | "b", count: (n: number) => void) {
    const dstSide = srcSide === "a" ? "b" : "a";
    pump(src, dst, count, run).then(
      async () => {
        if (run.done) return;
        if (open === 1) {
          // The other direction is over and every byte of this one is written: the close that
          // finish() does sends the FIN, without a shutdown() call of its own.
          open = 0;
          return run.finish("eof");
        }
        try {
          await dst.closeWrite();
        } catch (e) {
          if (!run.done) run.finish("error", dstSide, asError(e, "pass on FIN"));
          return;
        }
        if (--open === 0) run.finish("eof");
        else run.halfClosed();
      },
      (e) => {
        if (run.done) return;
        if (e instanceof WriteFailed) {
          run.finish(
            "error",
            dstSide,
            asError(e.error, `write to ${dst.remote.host}:${dst.remote.port}`),
          );
        } else {
          run.finish(
            "error",
            srcSide,
            asError(e, `read from ${src.remote.host}:${src.remote.port}`),
          );
        }
      },
    );
  }
  if (a.closed || b.closed) {
    run.finish(
      "error",
      a.closed ? "a" : "b",
      new SluiceError("ECLOSED", "Cannot splice: connection already closed"),
    );
    return run.result;
  }
  direction(a, b, "a", (n) => run.up(n));
  direction(b, a, "b", (n) => run.down(n));
  return run.result;
}

/** node:http, not Deno.serve: it has header and idle timeouts and survives accept errors. */
const serveHttp = nodeServeHttp;

function wrapFetch(f: HttpFetch): HttpFetch {
  return async (url, init) => {
    try {
      return await f(url, init);
    } catch (e) {
      throw fetchError(e, url);
    }
  };
}

function httpClient(tls?: TlsClientOptions): HttpFetch {
  if (!tls || (!tls.ca?.length && !tls.cert && !tls.key && !tls.insecure)) {
    return wrapFetch((u, i) => fetch(u, i));
  }
  if (tls.insecure) {
    // Deno's fetch cannot skip verification per client; node:https can (matrix row 8).
    const viaNode = nodeHttpsFetch(tls);
    return wrapFetch((u, i) => (u.startsWith("https:") ? viaNode(u, i) : fetch(u, i)));
  }
  const opts: Deno.CreateHttpClientOptions & { cert?: string; key?: string } = {};
  if (tls.ca?.length) opts.caCerts = tls.ca;
  if (tls.cert && tls.key) {
    opts.cert = tls.cert;
    opts.key = tls.key;
  }
  const client = Deno.createHttpClient(
    opts as Deno.CreateHttpClientOptions & Deno.TlsCertifiedKeyPem,
  );
  return wrapFetch((u, i) => fetch(u, { ...i, client } as RequestInit));
}

/** How long after a SIGUSR1 Deno's inspector is looked for (it opens within a few ms). */
const INSPECTOR_WATCH_MS = 2000;

function closeInspector(): boolean {
  try {
    if (!inspector.url()) return false;
    inspector.close();
  } catch {
    return false;
  }
  log.warn("SIGUSR1: closed the debugger that Deno opened for it");
  return true;
}

/**
 * Deno 2.9.2+ opens V8's inspector on SIGUSR1 whatever JS listens, with no way to turn it off
 * (see _signals.ts): close it as soon as it is open, polling every 1 ms after the signal.
 */
function guardSigusr1(): void {
  process.on("SIGUSR1", () => {
    log.warn("SIGUSR1 does not reload on Deno (it is Deno's debugger signal); send SIGHUP");
    if (closeInspector()) return;
    const until = Date.now() + INSPECTOR_WATCH_MS;
    const t = setInterval(() => {
      if (closeInspector() || Date.now() > until) clearInterval(t);
    }, 1);
    Deno.unrefTimer(t);
  });
}

guardSigusr1();

/** SIGUSR1 does not reload on Deno (it is the debugger's signal there): SIGHUP does. */
function onSignal(sig: SignalName, fn: () => void): () => void {
  return sig === "SIGUSR1" ? () => {} : onProcessSignal(sig, fn);
}

export const denoRuntime: Runtime = {
  name: "deno",
  get version() {
    return Deno.version.deno;
  },
  listen,
  connect,
  splice,
  serveHttp,
  httpClient,
  onSignal,
  watchFile: watchFileInDir,
};
