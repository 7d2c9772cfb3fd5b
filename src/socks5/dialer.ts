// Reaches a backend through a SOCKS5 proxy: connect to the proxy, run greeting, optional
// username/password and CONNECT under one handshake timeout, and hand back the tunnel's Conn.
import { lookup } from "node:dns/promises";
import { errorCode, errorMessage, SluiceError } from "../errors.ts";
import type { Dialer, DialOptions, DialTarget } from "../net/dial.ts";
import { formatProxyUrl } from "../routing/proxy_url.ts";
import type { ProxyUrl } from "../routing/types.ts";
import type { Conn, Runtime } from "../runtime/types.ts";
import {
  ATYP_DOMAIN,
  atypOf,
  encodeConnect,
  encodeGreeting,
  encodeUserPass,
  METHOD_NO_ACCEPTABLE,
  METHOD_NO_AUTH,
  METHOD_USERPASS,
  parseMethodSelection,
  parseReply,
  type ParseResult,
  parseUserPassReply,
  REPLY_SUCCEEDED,
  replyMessage,
  SOCKS_VERSION,
} from "./codec.ts";
import { Socks5Error } from "./errors.ts";
import { formatHostPort } from "../net/host_port.ts";
import { abortable, deadline } from "../net/abortable.ts";

export interface Socks5DialerOptions {
  rt: Runtime;
  proxy: ProxyUrl;
  /**
   * Time allowed for the SOCKS5 exchange once the proxy accepted the TCP connection.
   * @default what is left of the dial's timeoutMs
   */
  handshakeTimeoutMs?: number;
  /**
   * Resolves a backend name for socks5:// (socks5h:// sends names to the proxy instead).
   * The first address is used.
   * @default node:dns lookup() with all: true (honours /etc/hosts)
   */
  resolve?: (host: string) => Promise<string[]>;
}

async function lookupAll(host: string): Promise<string[]> {
  const found = await lookup(host, { all: true });
  return found.map((a) => a.address);
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

type Stage = "greeting" | "authentication" | "connect request";

export function createSocks5Dialer(o: Socks5DialerOptions): Dialer {
  const { rt, proxy } = o;
  const via = formatProxyUrl(proxy);
  const resolve = o.resolve ?? lookupAll;
  const hasCredentials = proxy.username !== undefined || proxy.password !== undefined;
  const methods = hasCredentials ? [METHOD_NO_AUTH, METHOD_USERPASS] : [METHOD_NO_AUTH];
  const offered = hasCredentials ? "no authentication, username/password" : "no authentication";

  async function dial(target: DialTarget, d: DialOptions): Promise<Conn> {
    const started = Date.now();
    const left = () => Math.max(1, d.timeoutMs - (Date.now() - started));
    const host = target.host.replace(/^\[(.*)\]$/, "$1");
    const backend = formatHostPort(host, target.port);
    const prefix = `Cannot connect to backend ${backend} through SOCKS5 proxy ${via}`;
    if (d.signal?.aborted) throw new SluiceError("ABORTED", `${prefix}: aborted`);

    // socks5:// means sluice resolves the name, so the proxy only ever sees an address.
    let dest = host;
    if (proxy.scheme === "socks5" && atypOf(host) === ATYP_DOMAIN) {
      dest = await resolveBackend(host, backend, left(), d.signal);
    }

    // Frames that cannot be encoded (a name over 255 bytes) fail before any socket is opened.
    let request: Uint8Array;
    let auth: Uint8Array | undefined;
    try {
      request = encodeConnect({ host: dest, port: target.port });
      if (hasCredentials) auth = encodeUserPass(proxy.username ?? "", proxy.password ?? "");
    } catch (err) {
      throw new SluiceError("ROUTING", `${prefix}: ${errorMessage(err)}`, { cause: err });
    }

    let conn: Conn;
    try {
      conn = await rt.connect({
        host: proxy.host,
        port: proxy.port,
        timeoutMs: left(),
        ...(d.signal ? { signal: d.signal } : {}),
      });
    } catch (err) {
      // Keep the adapter's code (ECONNREFUSED, ETIMEDOUT, ENOTFOUND, ABORTED): the proxy
      // itself could not be reached, which is not the proxy's answer about the backend.
      throw new SluiceError(
        errorCode(err),
        `Cannot reach SOCKS5 proxy ${via} for backend ${backend}: ${errorMessage(err)}`,
        { cause: err },
      );
    }

    const handshakeMs = o.handshakeTimeoutMs ?? left();
    const dl = deadline(handshakeMs, {
      signal: d.signal,
      reason: () => new SluiceError("ETIMEDOUT", "SOCKS5 handshake timed out"),
    });
    let stage: Stage = "greeting";
    try {
      await handshake(conn, request, auth, dl.signal, (s) => stage = s);
      return conn;
    } catch (err) {
      // Every failure path closes the proxy socket: nothing leaks, nothing hangs.
      conn.close();
      if (dl.expired) {
        throw new Socks5Error(
          "handshake_timeout",
          `${prefix}: no answer to the ${stage} within ${handshakeMs} ms`,
          { cause: err },
        );
      }
      if (dl.signal.aborted) throw new SluiceError("ABORTED", `${prefix}: aborted`, { cause: err });
      if (err instanceof Socks5Error) {
        const why = err.kind === "garbage"
          ? `the proxy's answer to the ${stage} is not SOCKS5 (${err.message})`
          : err.message;
        throw new Socks5Error(
          err.kind,
          `${prefix}: ${why}`,
          { cause: err, ...(err.reply !== undefined ? { reply: err.reply } : {}) },
        );
      }
      throw new Socks5Error(
        "closed_early",
        `${prefix}: the connection to the proxy failed during the ${stage}: ${errorMessage(err)}`,
        { cause: err },
      );
    } finally {
      dl.clear();
    }
  }

  async function resolveBackend(
    host: string,
    backend: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const limit = AbortSignal.timeout(timeoutMs);
    const both = signal ? AbortSignal.any([signal, limit]) : limit;
    let addrs: string[];
    try {
      addrs = await abortable(resolve(host), both);
    } catch (err) {
      const code = signal?.aborted ? "ABORTED" : limit.aborted ? "ETIMEDOUT" : "ENOTFOUND";
      const why = code === "ETIMEDOUT" ? `no answer within ${timeoutMs} ms` : errorMessage(err);
      throw new SluiceError(
        code,
        `Cannot resolve backend ${backend} for SOCKS5 proxy ${via} (socks5:// resolves names locally; socks5h:// lets the proxy do it): ${why}`,
        { cause: err },
      );
    }
    const first = addrs[0];
    if (first === undefined) {
      throw new SluiceError(
        "ENOTFOUND",
        `Cannot resolve backend ${backend} for SOCKS5 proxy ${via}: no address found`,
      );
    }
    return first;
  }

  async function handshake(
    conn: Conn,
    request: Uint8Array,
    auth: Uint8Array | undefined,
    signal: AbortSignal,
    setStage: (s: Stage) => void,
  ): Promise<void> {
    let buf: Uint8Array = new Uint8Array(0);
    let stage: Stage = "greeting";

    // Reads until `parse` has a whole frame; a frame is at most 262 bytes, so garbage throws
    // or the frame completes long before the buffer could grow without bound.
    async function next<T>(parse: (b: Uint8Array) => ParseResult<T>): Promise<T> {
      for (let i = 0; i < 1024; i++) {
        const r = parse(buf);
        if (r.status === "ok") {
          buf = buf.subarray(r.consumed);
          return r;
        }
        const chunk = await abortable(conn.read({ signal }), signal);
        if (chunk === null) throw closedEarly();
        buf = concatBytes(buf, chunk.slice());
      }
      throw new Socks5Error("garbage", `the ${stage} answer never completed`);
    }

    function closedEarly(): Socks5Error {
      // A proxy that sends VER, REP and hangs up still told us why.
      if (
        stage === "connect request" && buf.length >= 2 && buf[0] === SOCKS_VERSION &&
        buf[1] !== REPLY_SUCCEEDED
      ) {
        const code = buf[1] as number;
        return new Socks5Error("reply", replyMessage(code), { reply: code });
      }
      const got = buf.length ? ` after ${buf.length} byte(s) of its answer` : "";
      return new Socks5Error(
        "closed_early",
        `the proxy closed the connection during the ${stage}${got}`,
      );
    }

    function enter(s: Stage) {
      stage = s;
      setStage(s);
    }

    await abortable(conn.write(encodeGreeting(methods)), signal);
    const { method } = await next(parseMethodSelection);
    if (method === METHOD_NO_ACCEPTABLE) {
      throw new Socks5Error(
        "no_acceptable_method",
        hasCredentials
          ? `the proxy accepts none of the offered authentication methods (${offered})`
          : `the proxy accepts none of the offered authentication methods (${offered}); does it need a username and password in the proxy URL?`,
      );
    }
    if (!methods.includes(method)) {
      throw new Socks5Error(
        "garbage",
        `the proxy chose authentication method 0x${
          method.toString(16).padStart(2, "0")
        }, which was not offered (${offered})`,
      );
    }

    if (method === METHOD_USERPASS && auth) {
      enter("authentication");
      await abortable(conn.write(auth), signal);
      const answer = await next(parseUserPassReply);
      if (!answer.ok) {
        throw new Socks5Error(
          "auth_rejected",
          `the proxy rejected the username/password for user "${proxy.username ?? ""}" (status 0x${
            answer.code.toString(16).padStart(2, "0")
          })`,
        );
      }
    }

    enter("connect request");
    await abortable(conn.write(request), signal);
    const { reply } = await next(parseReply);
    if (reply.reply !== REPLY_SUCCEEDED) {
      throw new Socks5Error("reply", replyMessage(reply.reply), { reply: reply.reply });
    }
    // Bytes the backend sent in the same segment as the reply belong to the tunnel.
    if (buf.length > 0) conn.unshift(buf.slice());
  }

  return { via, dial };
}
