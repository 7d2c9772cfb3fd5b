// serveHttp() on Bun: Bun.serve (its own header timeout, about 10 s).
import { formatHostPort } from "../../net/host_port.ts";
import { bareHost, sockAddr } from "../_addr.ts";
import { toSluiceError } from "../_errors.ts";
import { bunApi, type BunServer } from "./bun_api.ts";
import type { HttpHandle, HttpServeOptions, SockAddr } from "../types.ts";

export function serveHttp(
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
    return Promise.reject(toSluiceError(e, `listen for HTTP on ${formatHostPort(o.host, o.port)}`));
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
