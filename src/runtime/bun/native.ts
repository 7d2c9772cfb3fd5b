// Native Bun sockets (accepted, and dialed once a destination has answered): the Transport
// over Bun's callback socket, and the handlers that pass its events to the BunConn.
import { sockAddr } from "../_addr.ts";
import type { BunSocket, BunSocketHandler } from "./bun_api.ts";
import { type BunConn, NONE, type Transport } from "./conn.ts";
import type { SockAddr } from "../types.ts";

/** What a dial in flight does when its socket opens or fails (dial.ts). */
export interface PendingDial {
  opened(s: NativeSocket): void;
  failed(e: unknown): void;
}

export type NativeSocket = BunSocket<NativeTransport | undefined>;

export class NativeTransport implements Transport {
  /** Set at accept, or when a dial opens. */
  s!: NativeSocket;
  readonly conn: BunConn;
  /** A dial's target: the address to show when the socket no longer tells. */
  readonly target: SockAddr | undefined;
  #pending: Uint8Array[] = NONE;
  #onShut: (() => void) | undefined;
  #gone = false;
  /** A dial's own state until its socket opens or fails. */
  dial: PendingDial | undefined;

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

/** The handlers every socket shares: its own state is `s.data`, none of it in closures. */
const SHARED_HANDLERS: Omit<BunSocketHandler<NativeTransport | undefined>, "open"> = {
  binaryType: "uint8array",
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

/**
 * A listener's or dial's handlers: its own `open`, the rest shared (a new set of functions per
 * listener was five of the ~20 functions each of 5,000 listeners kept in the heap).
 */
export function nativeHandlers(
  onOpen: (s: NativeSocket) => void,
): BunSocketHandler<NativeTransport | undefined> {
  return { ...SHARED_HANDLERS, open: onOpen };
}
