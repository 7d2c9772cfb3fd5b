// listen() on Deno: Deno.listen and an accept loop that survives accept errors (EMFILE: logged
// once per streak, backed off 10 ms -> 1 s), and "close, then listen on the same port" as Bun
// allows it (Deno releases a closed listener's port one event-loop turn later).
import { formatHostPort } from "../../net/host_port.ts";
import { createLogger } from "../../log.ts";
import { bareHost, sockAddr } from "../_addr.ts";
import { toSluiceError } from "../_errors.ts";
import { closeQuietly, DenoConn, netAddr } from "./conn.ts";
import type { Conn, Listener, ListenOptions } from "../types.ts";

const log = createLogger("runtime");

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
 * Ports of listeners closed by this adapter whose socket is not released yet: Deno frees
 * the fd only when the pending accept() op unwinds, one event-loop turn after close().
 */
type Releasing = Map<number, Promise<void>>;

/** The longest pause between accept attempts while they fail (EMFILE). */
const ACCEPT_BACKOFF_MAX_MS = 1000;

function acceptLoop(
  l: Deno.TcpListener,
  onConn: (c: Conn) => void,
  releasing: Releasing,
): Listener {
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
            listener: formatHostPort(la.hostname, port),
            error: toSluiceError(e, "accept").message,
          });
        }
        backoffMs = Math.min(ACCEPT_BACKOFF_MAX_MS, backoffMs ? backoffMs * 2 : 10);
        await new Promise((r) => setTimeout(r, backoffMs));
        continue;
      }
      if (backoffMs) {
        backoffMs = 0;
        log.info("accepting again", { listener: formatHostPort(la.hostname, port) });
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
  releasing: Releasing,
): Listener {
  let closed = false;
  let inner: Listener | undefined;
  const attempt = (left: number) => {
    if (closed) return;
    try {
      inner = acceptLoop(bind(o), onConn, releasing);
    } catch (e) {
      if (left > 0) setTimeout(() => attempt(left - 1), 10);
      else {log.warn("deferred listen failed", {
          listener: `${formatHostPort(o.host, o.port)}`,
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

/** listen() for one adapter, with its own record of ports being released. */
export function createDenoListen(): (o: ListenOptions, onConn: (c: Conn) => void) => Listener {
  const releasing: Releasing = new Map();
  return (o, onConn) => {
    let l: Deno.TcpListener;
    try {
      l = bind(o);
    } catch (e) {
      const err = toSluiceError(e, `listen on ${formatHostPort(o.host, o.port)}`);
      const released = o.port ? releasing.get(o.port) : undefined;
      if (err.code === "EADDRINUSE" && released) {
        return deferredListen(o, onConn, released, releasing);
      }
      throw err;
    }
    return acceptLoop(l, onConn, releasing);
  };
}
