// serveHttp() over node:http, for Deno: Deno.serve has no header-read or idle timeout, so 5,000
// connections that send half a request stayed open for good (issue 12 bug 6), and an accept
// error (EMFILE) rejected inside it and left the port dead (bug 7). node:http on Deno has both
// timeouts, and its accept errors are reported to the server's "error" event and survived.
// The fetch-style handler sees a Request and returns a Response, as with Deno.serve.
import { formatHostPort } from "../../net/host_port.ts";
import http from "node:http";
import { connect as netConnect, type Socket } from "node:net";
import { createLogger } from "../../log.ts";
import { bareHost, sockAddr } from "../_addr.ts";
import { toSluiceError } from "../_errors.ts";
import type { HttpHandle, HttpServeOptions, SockAddr } from "../types.ts";

const log = createLogger("runtime");

/** Defaults close to Bun's own (its HTTP server drops a half-sent request after ~10-15 s). */
const HTTP_HEADER_TIMEOUT_MS = 10_000;
const HTTP_IDLE_TIMEOUT_MS = 15_000;

function toRequest(req: http.IncomingMessage, base: string, signal: AbortSignal): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    try {
      headers.append(raw[i]!, raw[i + 1]!);
    } catch { /* a header the Fetch API refuses: dropped */ }
  }
  const target = req.url ?? "/";
  const url = /^https?:\/\//i.test(target) ? target : base + (target.startsWith("/") ? "" : "/") +
    target;
  const method = req.method ?? "GET";
  const init: RequestInit & { duplex?: "half" } = { method, headers, signal };
  if (method !== "GET" && method !== "HEAD") {
    init.body = new ReadableStream<Uint8Array>({
      start(c) {
        req.on("data", (d: Uint8Array) => c.enqueue(new Uint8Array(d)));
        req.on("end", () => c.close());
        req.on("error", (e) => c.error(e));
      },
    });
    init.duplex = "half";
  }
  return new Request(url, init);
}

async function send(res: http.ServerResponse, r: Response, head: boolean): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  r.headers.forEach((v, k) => {
    if (k === "set-cookie") return;
    headers[k] = v;
  });
  const cookies = r.headers.getSetCookie?.() ?? [];
  if (cookies.length) headers["set-cookie"] = cookies;
  res.writeHead(r.status, r.statusText || undefined, headers);
  if (!r.body || head) {
    await r.body?.cancel();
    res.end();
    return;
  }
  const reader = r.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!res.write(value)) {
      await new Promise<void>((resolve) => {
        res.once("drain", resolve);
        res.once("close", resolve);
      });
      if (res.destroyed) {
        await reader.cancel();
        return;
      }
    }
  }
  res.end();
}

/** How often the server checks that it still accepts (a dead accept loop is silent). */
const PROBE_EVERY_MS = 2000;
/** A probe connection not accepted within this means the accept loop is gone. */
const PROBE_WAIT_MS = 1500;

/**
 * Deno's node:http (like Deno.serve) stops accepting for good after an accept error such as
 * EMFILE, silently: no event, the port stays bound, connections queue unanswered. A probe
 * connects to the server every PROBE_EVERY_MS; when it is not accepted, the server is
 * restarted on the same port (connections already accepted go on). A probe that cannot even
 * be made (EMFILE in this process) proves nothing and is skipped.
 */
function watchAccepts(server: http.Server, host: string, port: number): () => void {
  let probing = false;
  let stopped = false;
  const seen = new Set<number>();
  server.on("connection", (sock: Socket) => {
    if (probing && sock.remotePort) seen.add(sock.remotePort);
  });
  const restart = (tries: number) => {
    if (stopped) return;
    server.close();
    const retry = () => {
      if (tries > 0) setTimeout(() => restart(tries - 1), 100);
    };
    server.once("error", retry);
    server.listen({ host, port }, () => {
      server.off("error", retry);
      log.info("HTTP server accepting again", { port });
    });
  };
  const probe = () => {
    if (probing || stopped) return;
    probing = true;
    seen.clear();
    const s = netConnect({ host, port });
    const done = () => {
      probing = false;
      s.destroy();
    };
    s.on("error", done);
    s.on("connect", () => {
      const local = s.localPort;
      const until = Date.now() + PROBE_WAIT_MS;
      const check = () => {
        if (stopped || (local !== undefined && seen.has(local))) return done();
        if (Date.now() < until) return void setTimeout(check, 50);
        done();
        log.warn("HTTP server stopped accepting (an accept error); restarting it", { port });
        restart(20);
      };
      check();
    });
  };
  const timer = setInterval(probe, PROBE_EVERY_MS);
  (timer as { unref?: () => void }).unref?.();
  if (typeof timer === "number") {
    (globalThis as { Deno?: { unrefTimer(id: number): void } }).Deno?.unrefTimer(timer);
  }
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

export function nodeServeHttp(
  o: HttpServeOptions,
  fetch: (r: Request, info: { remote: SockAddr | undefined }) => Response | Promise<Response>,
): Promise<HttpHandle> {
  const headerMs = o.headerTimeoutMs ?? HTTP_HEADER_TIMEOUT_MS;
  const idleMs = o.idleTimeoutMs ?? HTTP_IDLE_TIMEOUT_MS;
  const server = http.createServer({
    headersTimeout: headerMs,
    // The whole request (headers and body) must arrive within this; a response may take longer.
    requestTimeout: Math.max(headerMs, 30_000),
    keepAliveTimeout: idleMs,
    // How often the timeouts above are checked (node's default, 30 s, would let them slip).
    connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(headerMs / 4))),
  } as http.ServerOptions);
  let base = "";
  server.on("request", (req, res) => {
    const ac = new AbortController();
    res.once("close", () => ac.abort());
    const remote = req.socket.remoteAddress
      ? sockAddr(req.socket.remoteAddress, req.socket.remotePort ?? 0)
      : undefined;
    void (async () => {
      let r: Response;
      try {
        const host = req.headers.host;
        r = await fetch(toRequest(req, host ? `http://${host}` : base, ac.signal), { remote });
      } catch (e) {
        log.warn("HTTP handler failed", { error: e instanceof Error ? e.message : String(e) });
        r = new Response("Internal Server Error", { status: 500 });
      }
      await send(res, r, req.method === "HEAD");
    })().catch(() => res.destroy());
  });
  // A bad request line, a header timeout: answered or closed by node, never thrown.
  server.on("clientError", (_e, socket) => {
    socket.destroy();
  });
  return new Promise<HttpHandle>((resolve, reject) => {
    const onStartError = (e: Error) => {
      reject(toSluiceError(e, `listen for HTTP on ${formatHostPort(o.host, o.port)}`));
    };
    server.once("error", onStartError);
    server.listen({ host: bareHost(o.host), port: o.port }, () => {
      server.off("error", onStartError);
      // Accept errors (EMFILE, ENFILE, ...) after the start: logged, and the server goes on.
      server.on("error", (e: Error) => {
        log.warn("HTTP accept failed; retrying", {
          listener: `${formatHostPort(o.host, o.port)}`,
          error: toSluiceError(e, "accept").message,
        });
      });
      const a = server.address();
      const addr = typeof a === "object" && a ? sockAddr(a.address, a.port) : sockAddr(o.host, 0);
      base = `http://${formatHostPort(addr.host, addr.port)}`;
      const unwatch = watchAccepts(server, bareHost(o.host), addr.port);
      let closing: Promise<void> | undefined;
      resolve({
        port: addr.port,
        host: addr.host,
        close(c) {
          unwatch();
          closing ??= new Promise<void>((done) => server.close(() => done()));
          server.closeIdleConnections();
          if (c?.force) {
            server.closeAllConnections();
            return Promise.resolve();
          }
          return closing;
        },
      });
    });
  });
}
