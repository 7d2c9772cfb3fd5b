// Active health checks of one backend: tcp (a connect within the timeout) or http (a request
// answered with the expected status), every `interval` with jitter, with rise/fall counting.
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
import type { Runtime } from "../runtime/types.ts";
import { errorCode, errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";

export interface HealthCheckerOptions {
  readonly rt: Runtime;
  readonly spec: HealthSpec;
  readonly target: { readonly host: string; readonly port: number };
  readonly onChange: (healthy: boolean, reason: string) => void;
  /** [0, 1), for jitter. @default Math.random */
  readonly random?: () => number;
  readonly log?: Logger;
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

/** `http://host:port/path`, with an IPv6 host in brackets. */
export function checkUrl(target: { host: string; port: number }, path: string): string {
  const host = target.host.includes(":") ? `[${target.host}]` : target.host;
  return `http://${host}:${target.port}${path.startsWith("/") ? path : `/${path}`}`;
}

/** One check: resolves "ok" or a reason it failed; never rejects. */
async function runCheck(
  o: HealthCheckerOptions,
  signal: AbortSignal,
): Promise<{ ok: boolean; reason: string }> {
  const { spec, target } = o;
  if (spec.type === "tcp") {
    try {
      const c = await o.rt.connect({
        host: target.host,
        port: target.port,
        timeoutMs: spec.timeoutMs,
        signal,
      });
      c.close();
      return { ok: true, reason: "ok" };
    } catch (err) {
      const code = errorCode(err);
      if (code === "ETIMEDOUT") {
        return { ok: false, reason: `tcp connect timed out after ${spec.timeoutMs}ms` };
      }
      return {
        ok: false,
        reason: `tcp connect failed: ${code === "EUNKNOWN" ? errorMessage(err) : code}`,
      };
    }
  }
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, spec.timeoutMs);
  try {
    const init: RequestInit = {
      method: spec.method,
      headers: { ...spec.headers },
      signal: ac.signal,
      redirect: "manual",
    };
    if (spec.body !== "" && spec.method !== "GET" && spec.method !== "HEAD") init.body = spec.body;
    const res = await o.rt.httpClient()(checkUrl(target, spec.path), init);
    // Read the body (bounded by the same timeout) so the connection is released.
    await res.arrayBuffer().catch(() => {});
    if (res.status === spec.status) return { ok: true, reason: "ok" };
    return {
      ok: false,
      reason: `http ${spec.method} ${spec.path} answered ${res.status}, expected ${spec.status}`,
    };
  } catch (err) {
    if (timedOut) {
      return {
        ok: false,
        reason: `http ${spec.method} ${spec.path} timed out after ${spec.timeoutMs}ms`,
      };
    }
    return { ok: false, reason: `http ${spec.method} ${spec.path} failed: ${errorMessage(err)}` };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
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
  let healthy: boolean | undefined;
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
        backend: `${o.target.host}:${o.target.port}`,
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
      record(r.ok, r.reason);
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
