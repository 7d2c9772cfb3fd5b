// splice() over the Conn interface alone, for conns the adapter did not create (a wrapper
// or a test double): read()/write() with awaited backpressure and closeWrite() for FIN.
// The adapters' own splice is used whenever both conns are theirs.
import { formatHostPort } from "../net/host_port.ts";
import { SluiceError } from "../errors.ts";
import { toSluiceError } from "./_errors.ts";
import { SpliceRun } from "./_splice_run.ts";
import type { Conn, SpliceOptions, SpliceResult } from "./types.ts";

class WriteFailed {
  constructor(readonly error: unknown) {}
}

async function pump(
  src: Conn,
  dst: Conn,
  count: (n: number) => void,
  run: SpliceRun,
): Promise<void> {
  while (!run.done) {
    const d = await src.read();
    if (d === null) break;
    try {
      await dst.write(d);
    } catch (e) {
      throw new WriteFailed(e);
    }
    count(d.byteLength);
  }
  try {
    await dst.closeWrite();
  } catch (e) {
    throw new WriteFailed(e);
  }
}

export function genericSplice(a: Conn, b: Conn, o: SpliceOptions = {}): Promise<SpliceResult> {
  const run = new SpliceRun(o, a, b);
  let open = 2;
  const direction = (src: Conn, dst: Conn, srcSide: "a" | "b", count: (n: number) => void) => {
    const dstSide = srcSide === "a" ? "b" : "a";
    pump(src, dst, count, run).then(
      () => {
        if (--open === 0) run.finish("eof");
        else run.halfClosed();
      },
      (e) => {
        if (run.done) return;
        const write = e instanceof WriteFailed;
        const err = write ? e.error : e;
        const peer = write ? dst : src;
        run.finish(
          "error",
          write ? dstSide : srcSide,
          err instanceof SluiceError ? err : toSluiceError(
            err,
            `splice with ${formatHostPort(peer.remote.host, peer.remote.port)}`,
          ),
        );
      },
    );
  };
  direction(a, b, "a", (n) => run.up(n));
  direction(b, a, "b", (n) => run.down(n));
  return run.result;
}
