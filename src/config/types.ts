// The resolved main configuration (SPEC section 2): every default applied, durations in ms.
import type { ServiceSettings } from "../routing/types.ts";
import type { LogFormat, LogLevel } from "../log.ts";
import type { HostPort } from "../net/host_port.ts";

export interface TlsFiles {
  /** Paths as configured (kept for messages) and the PEM text read at load time. */
  readonly caPath?: string;
  readonly certPath?: string;
  readonly keyPath?: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly insecure: boolean;
}

export interface FileProviderConfig {
  readonly path: string;
  readonly watch: boolean;
  /** The largest routing file read (`max_bytes`). @default 64 MiB */
  readonly maxBytes?: number;
}

export interface HttpProviderConfig {
  readonly endpoint: string;
  readonly pollIntervalMs: number;
  readonly pollTimeoutMs: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly maxBytes: number;
  readonly tls: TlsFiles;
}

export interface ConsulProviderConfig {
  readonly address: string;
  readonly token: string;
  readonly datacenter: string;
  readonly namespace: string;
  readonly waitMs: number;
  readonly consistencyMode: "stale" | "consistent" | "leader";
  readonly tag: string;
  /**
   * Also routed when no `tag` is configured: dill's and dyntcp's tags (`dill`,
   * `dill.listener=...`), each read with its own prefix.
   */
  readonly legacyTags?: readonly string[];
  readonly tls: TlsFiles;
  /** The largest answer read (`max_bytes`). @default 16 MiB */
  readonly maxBytes?: number;
}

export interface NomadProviderConfig {
  readonly address: string;
  readonly token: string;
  readonly namespace: string;
  readonly waitMs: number;
  readonly stale: boolean;
  readonly tag: string;
  /**
   * Also routed when no `tag` is configured: dill's and dyntcp's tags (`dill`,
   * `dill.listener=...`), each read with its own prefix.
   */
  readonly legacyTags?: readonly string[];
  readonly tls: TlsFiles;
  /** The largest answer read (`max_bytes`). @default 16 MiB */
  readonly maxBytes?: number;
}

export interface Config {
  /** The file it came from, if any */
  readonly source?: string;
  /** One-line notices for the start log (e.g. dyntcp's `consul` read as `routing.consul`). */
  readonly notices?: readonly string[];
  readonly listeners: {
    readonly allowed: Readonly<Record<string, string>>;
    readonly portMin: number;
    readonly portMax: number;
    readonly drainTimeoutMs: number;
    readonly bindRetryMs: number;
    /** A half-closed connection idle this long is closed; 0 = never. */
    readonly halfCloseTimeoutMs: number;
  };
  /** listener: "" = off, or "host:port" as written; address: the same, parsed once at load. */
  readonly peek: { readonly listener: string; readonly address?: HostPort };
  readonly admin: {
    readonly listener: string;
    readonly token: string;
    readonly address?: HostPort;
  };
  readonly log: { readonly level: LogLevel; readonly format: LogFormat; readonly access: boolean };
  readonly defaults: ServiceSettings;
  readonly runtime: {
    readonly workers: number;
    /** "" = none */
    readonly pidFile: string;
    /** Where the stick table and health states are saved and restored; "" = nowhere */
    readonly stateFile: string;
    readonly stateIntervalMs: number;
  };
  readonly dns: { readonly refreshWithoutTtlMs: number };
  readonly routing: {
    readonly file?: FileProviderConfig;
    readonly http?: HttpProviderConfig;
    readonly consul?: ConsulProviderConfig;
    readonly nomad?: NomadProviderConfig;
  };
}
