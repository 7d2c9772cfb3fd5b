// A control endpoint (admin API, peek) that binds like a proxy listener: a failed bind is
// logged and retried every bind_retry, and a reload that moves it keeps the endpoint it has
// until the new address is bound, so a busy port never leaves sluice without one.
import { errorCode, errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";

/** A bound endpoint. */
export interface Bound {
  readonly port: number;
  close(): void | Promise<void>;
}

/** What to bind: `key` identifies the settings (same key = nothing to do). */
export interface BindSpec {
  readonly key: string;
  /** "host:port" as configured, for logs; the same address is closed before it is rebound. */
  readonly address: string;
  start(): Bound | Promise<Bound>;
}

export interface Rebinder {
  /**
   * Bind `spec` (or close, when undefined). Resolves true when it is bound now (or off), false
   * when the bind failed: the failure is logged, retried every bind_retry, and the endpoint
   * bound before stays until the retry succeeds.
   */
  set(spec: BindSpec | undefined): Promise<boolean>;
  /** The bound port, if any. */
  readonly port: number | undefined;
  /** The address being retried, if a bind failed. */
  readonly failing: string | undefined;
  /** Stops retrying and closes the endpoint. */
  close(): Promise<void>;
}

export interface RebinderOptions {
  /** "admin" or "peek": log lines say "<name> listener ..." */
  name: string;
  log: Logger;
  /** listeners.bind_retry, read at each retry. */
  retryMs: () => number;
}

export function createRebinder(o: RebinderOptions): Rebinder {
  let current: { spec: BindSpec; bound: Bound } | undefined;
  /** The spec being retried and why its last bind failed. */
  let wanted: { spec: BindSpec; reason: string } | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  async function closeCurrent(): Promise<void> {
    const c = current;
    current = undefined;
    try {
      await c?.bound.close();
    } catch { /* already closed */ }
  }

  /** One bind attempt; on success the old endpoint (if any) is closed. */
  async function attempt(spec: BindSpec, retry: boolean): Promise<boolean> {
    let bound: Bound;
    try {
      bound = await spec.start();
    } catch (err) {
      const reason = `${errorCode(err)}: ${errorMessage(err)}`;
      const config = errorCode(err) === "CONFIG";
      // Logged once, and again only when the reason changes.
      if (!retry || wanted?.reason !== reason) {
        o.log.error(`${o.name} listener bind failed`, {
          address: spec.address,
          error: reason,
          ...(config ? {} : { retry_ms: o.retryMs() }),
          ...(current ? { kept: current.spec.address } : {}),
        });
      }
      wanted = { spec, reason };
      // A configuration error will not go away by waiting.
      if (!config && !closed) timer = setTimeout(() => void retryNow(), o.retryMs());
      return false;
    }
    if (closed || wanted?.spec !== spec && retry) {
      // Closed or replaced while the bind ran: this endpoint is not wanted any more.
      await bound.close();
      return false;
    }
    if (retry) o.log.info(`${o.name} listener bound after retry`, { address: spec.address });
    wanted = undefined;
    const old = current;
    current = { spec, bound };
    if (old) {
      try {
        await old.bound.close();
      } catch { /* already closed */ }
      if (old.spec.address !== spec.address) {
        o.log.info(`${o.name} listener moved`, { from: old.spec.address, to: spec.address });
      }
    }
    return true;
  }

  async function retryNow(): Promise<void> {
    timer = undefined;
    const w = wanted;
    if (!w || closed) return;
    await attempt(w.spec, true);
  }

  return {
    async set(spec) {
      clearTimeout(timer);
      timer = undefined;
      if (!spec) {
        wanted = undefined;
        await closeCurrent();
        return true;
      }
      if (current?.spec.key === spec.key) {
        wanted = undefined;
        return true;
      }
      if (wanted?.spec.key === spec.key) {
        // Still failing with the same settings: retry now rather than wait.
        return await attempt(wanted.spec, true);
      }
      wanted = undefined;
      // The same address cannot be bound twice: the old endpoint makes room (new settings,
      // such as a token, on the same port).
      if (current && current.spec.address === spec.address) await closeCurrent();
      return await attempt(spec, false);
    },
    get port() {
      return current?.bound.port;
    },
    get failing() {
      return wanted?.spec.address;
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      wanted = undefined;
      await closeCurrent();
    },
  };
}
