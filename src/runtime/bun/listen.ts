// listen() on Bun: Bun.listen with native sockets, half-open allowed.
import { formatHostPort } from "../../net/host_port.ts";
import { isIP } from "node:net";
import { bareHost, sockAddr } from "../_addr.ts";
import { toSluiceError } from "../_errors.ts";
import { bunApi, type BunTcpListener } from "./bun_api.ts";
import { BunConn } from "./conn.ts";
import { nativeHandlers, NativeTransport } from "./native.ts";
import type { Conn, Listener, ListenOptions, SockAddr } from "../types.ts";

export function listen(o: ListenOptions, onConn: (c: Conn) => void): Listener {
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
    throw toSluiceError(e, `listen on ${formatHostPort(o.host, o.port)}`);
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
