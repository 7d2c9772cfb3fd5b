// splice() on Bun: each direction is the source conn's Sink, pushing chunks into the other
// conn without promises; backpressure pauses the source until the destination drains.
import { formatHostPort } from "../../net/host_port.ts";
import { SluiceError } from "../../errors.ts";
import { genericSplice } from "../_generic_splice.ts";
import { SpliceRun } from "../_splice_run.ts";
import { BunConn, type Sink } from "./conn.ts";
import type { Conn, SpliceOptions, SpliceResult } from "../types.ts";

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
            `Cannot write to ${
              formatHostPort(dst.remote.host, dst.remote.port)
            }: connection closed`,
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
          `Cannot write to ${formatHostPort(src.host, src.port)}: connection closed by the peer`,
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

export function splice(ca: Conn, cb: Conn, o: SpliceOptions = {}): Promise<SpliceResult> {
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
