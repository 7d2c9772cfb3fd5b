// Provider state bookkeeping shared by every provider: the ProviderStatus it exposes, and
// failure logging once per change of state rather than once per retry.
import type { Logger } from "../log.ts";
import type { ProviderKind, ProviderStatus } from "./types.ts";

/** What went wrong, in words an operator acts on. */
export type FailureKind =
  /** connection refused or reset, DNS, TLS: the peer could not be talked to */
  | "unreachable"
  /** no complete answer within the timeout */
  | "timeout"
  /** 401/403: the credentials are wrong (e.g. Consul's "ACL not found") */
  | "forbidden"
  /** 400: our request or configuration is wrong; retrying will not help until it is fixed */
  | "bad_request"
  /** any other non-2xx answer */
  | "http_status"
  /** an answer or document that does not parse */
  | "garbage"
  /** an answer larger than allowed */
  | "too_large"
  /** a file that does not exist (yet) */
  | "missing"
  /** a file that exists but cannot be read */
  | "unreadable";

export interface ProviderFailure {
  readonly kind: FailureKind;
  /** One line for the log and the status, secrets already redacted. */
  readonly message: string;
  /**
   * Tells failure states apart: a failure with the same key as the one before is not logged
   * again. @default kind
   */
  readonly key?: string;
}

export interface StatusTrackerOptions {
  name: string;
  kind: ProviderKind;
  /** Failures and recoveries are logged here. */
  log: Logger;
  /** @default () => new Date() */
  now?: () => Date;
}

export interface StatusTracker {
  readonly state: ProviderStatus["state"];
  /** A fresh copy of the status, for the admin API and readiness. */
  status(): ProviderStatus;
  /** A new snapshot went out: state "ok". Logs one "provider recovered" after a failure. */
  delivered(o: { services: number; index?: string }): void;
  /** An answer without change (304, same body, same index): "ok" again, nothing delivered. */
  unchanged(o?: { index?: string }): void;
  /**
   * An attempt failed: state "failing". Logs only when the failure state changes (the first
   * failure, or a different key than the last one); returns whether it logged.
   */
  failed(f: ProviderFailure): boolean;
  /** The provider stopped for good. */
  stopped(): void;
}

export function createStatusTracker(o: StatusTrackerOptions): StatusTracker {
  const now = o.now ?? (() => new Date());
  let state: ProviderStatus["state"] = "waiting";
  let lastUpdate: string | undefined;
  let lastError: string | undefined;
  let index: string | undefined;
  let services = 0;
  let updates = 0;
  let errors = 0;
  // The key of the failure state we are in; undefined while healthy.
  let failingKey: string | undefined;
  let failuresInRow = 0;

  function recover(): void {
    if (failingKey !== undefined) {
      o.log.info("provider recovered", { provider: o.name, failures: failuresInRow });
    }
    failingKey = undefined;
    failuresInRow = 0;
  }

  return {
    get state() {
      return state;
    },
    status() {
      const s: {
        -readonly [K in keyof ProviderStatus]: ProviderStatus[K];
      } = { name: o.name, kind: o.kind, state, services, updates, errors };
      if (lastUpdate !== undefined) s.lastUpdate = lastUpdate;
      if (lastError !== undefined) s.lastError = lastError;
      if (index !== undefined) s.index = index;
      return s;
    },
    delivered(d) {
      if (state === "stopped") return;
      recover();
      state = "ok";
      services = d.services;
      lastUpdate = now().toISOString();
      if (d.index !== undefined) index = d.index;
      updates++;
    },
    unchanged(d) {
      if (state === "stopped") return;
      recover();
      // A provider that never delivered stays "waiting": readiness means one snapshot out.
      if (state === "failing") state = lastUpdate === undefined ? "waiting" : "ok";
      if (d?.index !== undefined) index = d.index;
    },
    failed(f) {
      if (state === "stopped") return false;
      errors++;
      failuresInRow++;
      state = "failing";
      lastError = f.message;
      const key = f.key ?? f.kind;
      if (key === failingKey) return false;
      failingKey = key;
      o.log.error("provider failing", { provider: o.name, kind: f.kind, error: f.message });
      return true;
    },
    stopped() {
      state = "stopped";
    },
  };
}
