// The engine's side of active health checks: one checker per backend of each listener whose
// plan has `health`, kept in step with routing (started, restarted when the spec or address
// changes, stopped when the backend or listener goes), and every state change logged once.
//
// Wiring: after a listener syncs its pool, call
//   monitor.sync(listener.key, plan.settings.health, backends.map((b) => ({
//     key: b.key, host: b.plan.host, port: b.plan.port, dialer, setHealth: (s) => (b.health = s) })))
// and `monitor.drop(listener.key)` when the listener is retired; `close()` at shutdown.
import type { HealthSpec } from "../routing/types.ts";
import type { Runtime } from "../runtime/types.ts";
import type { Dialer } from "../net/dial.ts";
import type { HealthState } from "./types.ts";
import type { Logger } from "../log.ts";
import { createHealthChecker, type HealthChecker } from "./checker.ts";
import { formatHostPort } from "../net/host_port.ts";

export interface MonitoredBackend {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  /** How traffic reaches it (SOCKS5); direct when absent */
  readonly dialer?: Dialer;
  /** Receives "up" / "down", and "unknown" when checks stop (no spec, or removed) */
  setHealth(state: HealthState, reason: string): void;
}

export interface HealthMonitor {
  /** Makes the checkers of `scope` (a listener key) match `spec` and `backends`. */
  sync(scope: string, spec: HealthSpec | undefined, backends: readonly MonitoredBackend[]): void;
  /** True when `scope` has checkers running. */
  has(scope: string): boolean;
  /** Stops every checker of `scope`. */
  drop(scope: string): void;
  /** Stops everything. */
  close(): void;
  /** Checkers running now (for tests and views). */
  readonly size: number;
}

interface Running {
  readonly checker: HealthChecker;
  /** Spec and address it was started with: a change restarts it */
  readonly signature: string;
  target: MonitoredBackend;
}

export function createHealthMonitor(
  o: { rt: Runtime; log: Logger; random?: () => number },
): HealthMonitor {
  const scopes = new Map<string, Map<string, Running>>();

  const stop = (r: Running, reason: string) => {
    r.checker.stop();
    r.target.setHealth("unknown", reason);
  };

  const start = (
    scope: string,
    spec: HealthSpec,
    b: MonitoredBackend,
    signature: string,
  ): Running => {
    const running: Running = {
      signature,
      target: b,
      checker: createHealthChecker({
        rt: o.rt,
        spec,
        target: { host: b.host, port: b.port },
        ...(b.dialer ? { dialer: b.dialer } : {}),
        ...(o.random ? { random: o.random } : {}),
        log: o.log,
        onChange: (healthy, reason) => {
          // `target` follows sync(), so a reloaded LiveBackend gets the news.
          running.target.setHealth(healthy ? "up" : "down", reason);
          const fields = {
            listener: scope,
            backend: formatHostPort(b.host, b.port),
            via: b.dialer?.via,
            reason,
          };
          if (healthy) o.log.info("backend is up", fields);
          else o.log.warn("backend is down", fields);
        },
      }),
    };
    return running;
  };

  return {
    sync(scope, spec, backends) {
      const current = scopes.get(scope) ?? new Map<string, Running>();
      const next = new Map<string, Running>();
      if (spec) {
        const specSig = JSON.stringify(spec);
        for (const b of backends) {
          const signature = `${specSig}|${b.host}|${b.port}|${b.dialer?.via ?? ""}`;
          const r = current.get(b.key);
          if (r && r.signature === signature) {
            r.target = b;
            next.set(b.key, r);
            continue;
          }
          if (r) r.checker.stop();
          b.setHealth("unknown", "health check (re)started");
          next.set(b.key, start(scope, spec, b, signature));
        }
      }
      for (const [key, r] of current) {
        if (!next.has(key)) stop(r, spec ? "backend removed" : "health checks removed");
      }
      if (next.size > 0) scopes.set(scope, next);
      else scopes.delete(scope);
    },
    has(scope) {
      return scopes.has(scope);
    },
    drop(scope) {
      const current = scopes.get(scope);
      if (!current) return;
      for (const r of current.values()) r.checker.stop();
      scopes.delete(scope);
    },
    close() {
      for (const current of scopes.values()) for (const r of current.values()) r.checker.stop();
      scopes.clear();
    },
    get size() {
      let n = 0;
      for (const current of scopes.values()) n += current.size;
      return n;
    },
  };
}
