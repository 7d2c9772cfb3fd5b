// The engine's side of active health checks: one checker per check and backend of each listener
// whose plan has `health`, kept in step with routing (started, restarted when the checks or the
// address change, stopped when the backend or listener goes), and every state change logged once.
//
// Several checks (tcpffee's list of healthchecks) each have a fall action: a failing "drain"
// check marks the backend down (no new clients; stuck clients stay; the pool may fail open to
// it), a failing "disable" check disables it (no connection at all), an "ignore" check is only
// logged. The backend is up when every check that is not ignored passes.
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

/** A backend's health as saved in the state file and restored at start. */
export interface SavedHealth {
  readonly state: HealthState;
  readonly disabled: boolean;
}

export interface MonitoredBackend {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  /** How traffic reaches it (SOCKS5); direct when absent */
  readonly dialer?: Dialer;
  /**
   * What it was before a restart: checks start from it, so a backend that was down stays down
   * until it passes `rise` checks (rather than counting as healthy until its first check).
   */
  readonly initial?: SavedHealth;
  /** Receives "up" / "down", and "unknown" when checks stop (no spec, or removed) */
  setHealth(state: HealthState, reason: string): void;
  /** A check with fall_action = "disable" started or stopped failing. */
  setDisabled?(disabled: boolean): void;
}

export interface HealthMonitor {
  /** Makes the checkers of `scope` (a listener key) match `spec` and `backends`. */
  sync(
    scope: string,
    spec: HealthSpec | readonly HealthSpec[] | undefined,
    backends: readonly MonitoredBackend[],
  ): void;
  /** True when `scope` has checkers running. */
  has(scope: string): boolean;
  /** Stops every checker of `scope`. */
  drop(scope: string): void;
  /** Stops everything. */
  close(): void;
  /** Checkers running now (for tests and views). */
  readonly size: number;
}

/** The checks of a `health` setting, as a list. */
export function healthChecks(
  spec: HealthSpec | readonly HealthSpec[] | undefined,
): readonly HealthSpec[] {
  if (spec === undefined) return [];
  return Array.isArray(spec) ? spec : [spec as HealthSpec];
}

/** A backend's state from its checks' results (undefined = no result yet). */
export function combineChecks(
  specs: readonly HealthSpec[],
  results: readonly (boolean | undefined)[],
): SavedHealth {
  let down = false;
  let disabled = false;
  let unknown = false;
  specs.forEach((s, i) => {
    const action = s.fallAction ?? "drain";
    if (action === "ignore") return;
    if (results[i] === false) {
      if (action === "disable") disabled = true;
      else down = true;
    } else if (results[i] === undefined) unknown = true;
  });
  return { state: down || disabled ? "down" : unknown ? "unknown" : "up", disabled };
}

interface Running {
  readonly checkers: HealthChecker[];
  readonly results: (boolean | undefined)[];
  /** Checks and address it was started with: a change restarts it */
  readonly signature: string;
  target: MonitoredBackend;
  last: SavedHealth;
}

/** The result a check starts from, after a restart. */
function initialResult(spec: HealthSpec, saved: SavedHealth | undefined): boolean | undefined {
  if (!saved) return undefined;
  const action = spec.fallAction ?? "drain";
  if (action === "disable") return saved.disabled ? false : undefined;
  if (action === "drain") return saved.state === "down" && !saved.disabled ? false : undefined;
  return undefined;
}

export function createHealthMonitor(
  o: { rt: Runtime; log: Logger; random?: () => number },
): HealthMonitor {
  const scopes = new Map<string, Map<string, Running>>();

  const stop = (r: Running, reason: string) => {
    for (const c of r.checkers) c.stop();
    r.target.setHealth("unknown", reason);
    if (r.last.disabled) r.target.setDisabled?.(false);
  };

  const start = (
    scope: string,
    specs: readonly HealthSpec[],
    b: MonitoredBackend,
    signature: string,
  ): Running => {
    const results = specs.map((s) => initialResult(s, b.initial));
    const running: Running = {
      signature,
      target: b,
      results,
      checkers: [],
      last: combineChecks(specs, results),
    };
    const fields = (reason: string, i: number) => ({
      listener: scope,
      backend: formatHostPort(b.host, b.port),
      via: b.dialer?.via,
      ...(specs.length > 1 ? { check: i, fall_action: specs[i]!.fallAction ?? "drain" } : {}),
      reason,
    });
    b.setHealth(
      running.last.state,
      b.initial ? "restored from the state file" : "health check (re)started",
    );
    // A restart forgets an earlier "disable" (unless restored): the new checks decide.
    b.setDisabled?.(running.last.disabled);
    specs.forEach((spec, i) => {
      const initial = results[i];
      running.checkers.push(createHealthChecker({
        rt: o.rt,
        spec,
        target: { host: b.host, port: b.port },
        ...(initial !== undefined ? { initial } : {}),
        ...(b.dialer ? { dialer: b.dialer } : {}),
        ...(o.random ? { random: o.random } : {}),
        log: o.log,
        onChange: (healthy, reason) => {
          running.results[i] = healthy;
          if ((spec.fallAction ?? "drain") === "ignore") {
            o.log.info(healthy ? "ignored check passes" : "ignored check fails", fields(reason, i));
          }
          const next = combineChecks(specs, running.results);
          const prev = running.last;
          running.last = next;
          // `target` follows sync(), so a reloaded LiveBackend gets the news.
          if (next.disabled !== prev.disabled) {
            running.target.setDisabled?.(next.disabled);
            if (next.disabled) o.log.warn("backend is disabled", fields(reason, i));
            else o.log.info("backend is enabled", fields(reason, i));
          }
          if (next.state === prev.state) return;
          running.target.setHealth(next.state, reason);
          if (next.state === "up") o.log.info("backend is up", fields(reason, i));
          else if (next.state === "down") o.log.warn("backend is down", fields(reason, i));
        },
      }));
    });
    return running;
  };

  return {
    sync(scope, spec, backends) {
      const specs = healthChecks(spec);
      const current = scopes.get(scope) ?? new Map<string, Running>();
      const next = new Map<string, Running>();
      if (specs.length > 0) {
        const specSig = JSON.stringify(specs);
        for (const b of backends) {
          const signature = `${specSig}|${b.host}|${b.port}|${b.dialer?.via ?? ""}`;
          const r = current.get(b.key);
          if (r && r.signature === signature) {
            r.target = b;
            next.set(b.key, r);
            continue;
          }
          if (r) { for (const c of r.checkers) c.stop(); }
          next.set(b.key, start(scope, specs, b, signature));
        }
      }
      for (const [key, r] of current) {
        if (!next.has(key)) stop(r, specs.length ? "backend removed" : "health checks removed");
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
      for (const r of current.values()) for (const c of r.checkers) c.stop();
      scopes.delete(scope);
    },
    close() {
      for (const current of scopes.values()) {
        for (const r of current.values()) for (const c of r.checkers) c.stop();
      }
      scopes.clear();
    },
    get size() {
      let n = 0;
      for (const current of scopes.values()) {
        for (const r of current.values()) n += r.checkers.length;
      }
      return n;
    },
  };
}
