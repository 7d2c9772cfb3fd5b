// node:net sockets behind the same Transport as native ones: a destination's first dials
// (they can be cancelled, see dial.ts).
import type { Socket as NetSocket } from "node:net";
import { sockAddr } from "../_addr.ts";
import type { BunConn, Transport } from "./conn.ts";
import type { SockAddr } from "../types.ts";

export class NodeTransport implements Transport {
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
