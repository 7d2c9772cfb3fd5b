// Active health checks of one backend: tcp (a connect within the timeout) or http (a request
// answered with the expected status, over the same path as traffic: direct or SOCKS5), every `interval` with jitter, with rise/fall counting.
//
// State: `undefined` (unknown) until the first result, and the engine treats unknown as
// healthy, so a new backend takes traffic until a check proves it down. The first result
// decides at once (one check, not rise/fall, turns unknown into up or down): a backend that
// refuses its very first check is almost certainly not there. After that, `fall` failures in a
// row take it down and `rise` successes in a row bring it back. `onChange` is called once per
// change (including the first result); the caller logs it. Checks never overlap, and the first
// one is placed at a random point of the first interval so that many backends configured
// together are not checked in lockstep; later ones vary by ±10% for the same reason.
import type { HealthSpec } from "../routing/types.ts";
import type { Conn, Runtime } from "../runtime/types.ts";
import type { Dialer } from "../net/dial.ts";
import { errorCode, errorMessage, resourceErrno } from "../errors.ts";
import type { Logger } from "../log.ts";
import { bracketHost, formatHostPort } from "../net/host_port.ts";
import { deadline } from "../net/abortable.ts";

export interface HealthCheckerOptions {
  readonly rt: Runtime;
  readonly spec: HealthSpec;
  readonly target: { readonly host: string; readonly port: number };
  readonly onChange: (healthy: boolean, reason: string) => void;
  /** [0, 1), for jitter. @default Math.random */
  readonly random?: () => number;
  readonly log?: Logger;
  /** Reach the backend as traffic does (through its SOCKS5 proxy); direct when absent. */
  readonly dialer?: Dialer;
  /**
   * The state to start from (restored after a restart): false means down until `rise` checks
   * pass. Absent: unknown, and the first result decides.
   */
  readonly initial?: boolean;
}

export interface HealthChecker {
  /** undefined until the first check has a result */
  readonly healthy: boolean | undefined;
  /** Consecutive results of the current kind so far (for views and tests). */
  readonly streak: number;
  /** The reason given by the last check ("ok" when it passed). */
  readonly lastReason: string;
  stop(): void;
}

/** Where checks connect: straight through the runtime, or through the backend's dialer (SOCKS5). */
function connectTo(o: HealthCheckerOptions, signal: AbortSignal): Promise<Conn> {
  const { host, port } = o.target;
  if (o.dialer) return o.dialer.dial({ host, port }, { timeoutMs: o.spec.timeoutMs, signal });
  return o.rt.connect({ host, port, timeoutMs: o.spec.timeoutMs, signal });
}

/** The request bytes of an http check (HTTP/1.1, one request, connection closed after). */
export function checkRequest(spec: HealthSpec, target: { host: string; port: number }): Uint8Array {
  const host = bracketHost(target.host);
  const path = spec.path.startsWith("/") ? spec.path : `/${spec.path}`;
  const body = new TextEncoder().encode(spec.body);
  const lines = [`${spec.method} ${path} HTTP/1.1`];
  const given = new Set(Object.keys(spec.headers).map((k) => k.toLowerCase()));
  if (!given.has("host")) lines.push(`Host: ${host}:${target.port}`);
  if (!given.has("user-agent")) lines.push("User-Agent: sluice-health-check");
  for (const [k, v] of Object.entries(spec.headers)) lines.push(`${k}: ${v}`);
  lines.push("Connection: close");
  if (body.length > 0) lines.push(`Content-Length: ${body.length}`);
  const head = new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** The status code from the first bytes of a response, or undefined until the line is complete. */
export function parseStatusLine(buf: Uint8Array): number | undefined {
  const end = buf.indexOf(0x0a);
  if (end < 0) {
    if (buf.length > 1024) throw new Error("no HTTP status line in the first 1024 bytes");
    return undefined;
  }
  const line = new TextDecoder().decode(buf.subarray(0, end)).trimEnd();
  const m = /^HTTP\/1\.[01] ([1-9][0-9]{2})(?: |$)/.exec(line);
  if (!m) throw new Error(`not an HTTP status line: ${JSON.stringify(line.slice(0, 80))}`);
  return Number(m[1]);
}

/**
 * One check: resolves "ok" or the reason it failed; never rejects. http checks are plain
 * HTTP/1.1 over a TCP connection (not fetch), so they also work through a SOCKS5 dialer and
 * never pool connections; only the status line is read.
 */
async function runCheck(
  o: HealthCheckerOptions,
  stop: AbortSignal,
): Promise<{ ok: boolean; reason: string; localErrno?: string }> {
  const { spec } = o;
  const what = spec.type === "tcp" ? "tcp connect" : `http ${spec.method} ${spec.path}`;
  // One budget for the whole check: connect, send, status line.
  const dl = deadline(spec.timeoutMs, { signal: stop });
  let conn: Conn | undefined;
  try {
    conn = await connectTo(o, dl.signal);
    if (spec.type === "tcp") return { ok: true, reason: "ok" };
    await conn.write(checkRequest(spec, o.target));
    let buf = new Uint8Array(0);
    for (;;) {
      const chunk = await conn.read({ signal: dl.signal });
      if (chunk === null) throw new Error("connection closed before a status line");
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
      const status = parseStatusLine(buf);
      if (status === undefined) continue;
      if (status === spec.status) return { ok: true, reason: "ok" };
      return { ok: false, reason: `${what} answered ${status}, expected ${spec.status}` };
    }
  } catch (err) {
    if (dl.expired || errorCode(err) === "ETIMEDOUT") {
      return { ok: false, reason: `${what} timed out after ${spec.timeoutMs}ms` };
    }
    const code = errorCode(err);
    if (code === "ERESOURCE") {
      // Out of descriptors here says nothing about the backend: no result either way.
      return {
        ok: false,
        reason: `${what} not run: ${errorMessage(err)}`,
        localErrno: resourceErrno(err),
      };
    }
    return {
      ok: false,
      reason: `${what} failed: ${
        code === "EUNKNOWN" ? errorMessage(err) : `${code} ${errorMessage(err)}`
      }`,
    };
  } finally {
    dl.clear();
    conn?.close();
  }
}

/** The first check: anywhere in the first interval. */
export function firstDelay(intervalMs: number, random: () => number): number {
  return intervalMs * random();
}

/** Later checks: the interval ±10%, so checks of backends started together drift apart. */
export function nextDelay(intervalMs: number, random: () => number): number {
  return intervalMs * (0.9 + 0.2 * random());
}

export function createHealthChecker(o: HealthCheckerOptions): HealthChecker {
  const random = o.random ?? Math.random;
  const interval = Math.max(1, o.spec.intervalMs);
  const rise = Math.max(1, o.spec.rise);
  const fall = Math.max(1, o.spec.fall);
  const stopped = new AbortController();
  let healthy: boolean | undefined = o.initial;
  let streak = 0;
  let lastOk: boolean | undefined;
  let lastReason = "";
  let timer: ReturnType<typeof setTimeout> | undefined;

  const record = (ok: boolean, reason: string) => {
    lastReason = reason;
    streak = ok === lastOk ? streak + 1 : 1;
    lastOk = ok;
    if (!ok && o.log?.enabled("debug")) {
      o.log.debug("health check failed", {
        backend: formatHostPort(o.target.host, o.target.port),
        reason,
        streak,
      });
    }
    let next = healthy;
    if (healthy === undefined) next = ok;
    else if (healthy && !ok && streak >= fall) next = false;
    else if (!healthy && ok && streak >= rise) next = true;
    if (next !== healthy) {
      healthy = next;
      o.onChange(next!, reason);
    }
  };

  const loop = async () => {
    timer = undefined;
    if (stopped.signal.aborted) return;
    const r = await runCheck(o, stopped.signal);
    if (stopped.signal.aborted) return;
    try {
      if (r.localErrno !== undefined) {
        o.log?.warn("local resource exhausted: health check skipped", {
          backend: formatHostPort(o.target.host, o.target.port),
          errno: r.localErrno,
          error: r.reason,
        });
      } else record(r.ok, r.reason);
    } catch (err) {
      o.log?.error("health onChange failed", { error: err });
    }
    if (stopped.signal.aborted) return;
    timer = setTimeout(loop, nextDelay(interval, random));
  };

  timer = setTimeout(loop, firstDelay(interval, random));
  return {
    get healthy() {
      return healthy;
    },
    get streak() {
      return streak;
    },
    get lastReason() {
      return lastReason;
    },
    stop() {
      stopped.abort();
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
