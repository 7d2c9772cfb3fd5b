// The runtime's floor: a bare TCP relay written straight on Deno's or Bun's socket API, with no
// routing, balancing, accounting, timeouts or error reporting. `deno task bench --entry bare`
// runs it in sluice's place, so the ratio of sluice to it is what sluice's own code costs and
// the ratio of it to HAProxy is what the runtime allows. Not a product: it handles no
// backpressure (Bun drops what a write does not take), so the harness runs it for the conn and
// ping-pong tests only; and it is the one place outside src/runtime/ that uses Deno.* and Bun.* (on purpose:
// it measures them).
//   deno run -A --unstable-net bench/profile/bare_relay.ts LISTEN BACKEND [LISTEN BACKEND]...
//   bun bench/profile/bare_relay.ts LISTEN BACKEND [LISTEN BACKEND]...
import process from "node:process";

const ports = process.argv.slice(2).map(Number);
// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** Deno: a read/write loop per direction, as a hand-written relay would do it. */
function denoRelay(listen: number, to: number): void {
  async function pump(src: Deno.TcpConn, dst: Deno.TcpConn): Promise<void> {
    const buf = new Uint8Array(16 * 1024);
    for (;;) {
      const n = await src.read(buf);
      if (n === null) break;
      for (let off = 0; off < n;) off += await dst.write(buf.subarray(off, n));
    }
    await dst.closeWrite().catch(() => {});
  }
  async function handle(c: Deno.TcpConn): Promise<void> {
    c.setNoDelay(true);
    let b: Deno.TcpConn;
    try {
      b = await Deno.connect({ hostname: "127.0.0.1", port: to });
    } catch {
      return c.close();
    }
    b.setNoDelay(true);
    await Promise.allSettled([pump(c, b), pump(b, c)]);
    for (const x of [c, b]) {
      try {
        x.close();
      } catch { /* closed */ }
    }
  }
  const l = Deno.listen({ hostname: "127.0.0.1", port: listen });
  (async () => {
    for await (const c of l) void handle(c);
  })();
}

/** Bun: native callback sockets, each side writing straight into the other. */
function bunRelay(listen: number, to: number): void {
  interface Side {
    // deno-lint-ignore no-explicit-any
    peer?: any;
    early?: Uint8Array[];
  }
  g.Bun.listen({
    hostname: "127.0.0.1",
    port: listen,
    allowHalfOpen: true,
    socket: {
      // deno-lint-ignore no-explicit-any
      open(c: any) {
        c.data = { early: [] } as Side;
        g.Bun.connect({
          hostname: "127.0.0.1",
          port: to,
          allowHalfOpen: true,
          socket: {
            // deno-lint-ignore no-explicit-any
            open(b: any) {
              b.data = { peer: c } as Side;
              c.data.peer = b;
              for (const d of c.data.early) b.write(d);
              c.data.early = undefined;
            },
            // deno-lint-ignore no-explicit-any
            data: (b: any, d: Uint8Array) => b.data.peer.write(d),
            // deno-lint-ignore no-explicit-any
            end: (b: any) => b.data.peer.shutdown(),
            // deno-lint-ignore no-explicit-any
            close: (b: any) => b.data.peer.end(),
            connectError: () => c.end(),
          },
        });
      },
      // deno-lint-ignore no-explicit-any
      data(c: any, d: Uint8Array) {
        if (c.data.peer) c.data.peer.write(d);
        else c.data.early.push(d);
      },
      // deno-lint-ignore no-explicit-any
      end: (c: any) => c.data.peer?.shutdown(),
      // deno-lint-ignore no-explicit-any
      close: (c: any) => c.data.peer?.end(),
    },
  });
}

for (let i = 0; i + 1 < ports.length; i += 2) {
  (g.Bun ? bunRelay : denoRelay)(ports[i]!, ports[i + 1]!);
}
process.stdout.write("ready\n");
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
