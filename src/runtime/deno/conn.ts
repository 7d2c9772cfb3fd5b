// A Deno connection: the Conn over a Deno.TcpConn. Every TCP connection (accepted or dialed)
// gets setNoDelay(true): Deno leaves Nagle on by default while Bun turns it off, and a proxy
// must not add Nagle delays to small writes. read() is for preludes; splice reads the raw conn.
import { formatHostPort } from "../../net/host_port.ts";
import { SluiceError } from "../../errors.ts";
import { sockAddr } from "../_addr.ts";
import { raceSignal } from "../_deadline.ts";
import { toSluiceError } from "../_errors.ts";
import type { Conn, SockAddr } from "../types.ts";

/** Prelude reads (PROXY header, SOCKS5 replies) are small. */
const PRELUDE_BUFFER = 16 * 1024;

export function netAddr(a: Deno.Addr): SockAddr {
  const n = a as Deno.NetAddr;
  return sockAddr(n.hostname ?? "", n.port ?? 0);
}

export function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch { /* already closed */ }
}

export class DenoConn implements Conn {
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
      throw toSluiceError(e, `read from ${formatHostPort(this.remote.host, this.remote.port)}`);
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
        `Cannot read from ${
          formatHostPort(this.remote.host, this.remote.port)
        }: a read is already pending`,
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
      const r = await raceSignal(
        p,
        o?.signal,
        `read from ${formatHostPort(this.remote.host, this.remote.port)}`,
      );
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
      throw toSluiceError(e, `write to ${formatHostPort(this.remote.host, this.remote.port)}`);
    }
  }

  async closeWrite(): Promise<void> {
    if (this.#writeClosed || this.#closed) return;
    this.#writeClosed = true;
    try {
      await this.raw.closeWrite();
    } catch (e) {
      throw toSluiceError(
        e,
        `close the write side to ${formatHostPort(this.remote.host, this.remote.port)}`,
      );
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
