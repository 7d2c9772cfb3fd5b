// The provider contract: a source of routing snapshots. A provider never touches sockets and
// never reports "no services" because it failed: it keeps its last good routes and retries.
import type { ServiceSpec } from "../routing/types.ts";

export type ProviderKind = "file" | "http" | "consul" | "nomad" | "forward";

export interface ProviderStatus {
  readonly name: string;
  readonly kind: ProviderKind;
  /** "waiting": has not delivered once yet */
  readonly state: "waiting" | "ok" | "failing" | "stopped";
  /** ISO time of the last snapshot delivered */
  readonly lastUpdate?: string;
  /** The last error, secrets redacted */
  readonly lastError?: string;
  /** Blocking-query index, ETag, or file mtime: whatever tells versions apart */
  readonly index?: string;
  /** The number of services in the last good snapshot */
  readonly services: number;
  /** Snapshots delivered since start (for sluice_provider_updates_total) */
  readonly updates?: number;
  /** Failed attempts since start (for sluice_provider_errors_total) */
  readonly errors?: number;
}

export interface Provider {
  readonly name: string;
  readonly kind: ProviderKind;
  /**
   * Begin delivering. `onSnapshot` gets the whole current service list each time it changes
   * (never a partial list, never an empty list because of a failure).
   */
  start(onSnapshot: (services: readonly ServiceSpec[]) => void): void;
  /** Re-read now (SIGHUP); optional for providers that only poll. */
  reload?(): Promise<void>;
  stop(): Promise<void>;
  status(): ProviderStatus;
}
