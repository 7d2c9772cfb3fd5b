// The runtime contract: everything sluice needs from Deno or Bun. Only src/runtime/ touches
// `Deno.*` or `Bun.*`; the rest of sluice sees these types. See shared/reference/runtime-matrix.md.

/** A socket address; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is normalised to plain IPv4. */
export interface SockAddr {
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** An established TCP connection. */
export interface Conn {
  readonly remote: SockAddr;
  readonly local: SockAddr;
  setNoDelay(on: boolean): void;
  setKeepAlive(on: boolean): void;
  /**
   * Read the next chunk, for preludes only (PROXY header, SOCKS5 replies, first-bytes hashing);
   * `null` is the peer's FIN. Do not call while a splice runs. A timeout is the caller's
   * (`signal` aborts the read with an ABORTED/ETIMEDOUT SluiceError and keeps the conn usable).
   */
  read(o?: { signal?: AbortSignal }): Promise<Uint8Array | null>;
  /** Give back bytes read too far; the next read() or splice() delivers them first. */
  unshift(chunk: Uint8Array): void;
  /** Resolves when the kernel has accepted every byte (backpressure). */
  write(b: Uint8Array): Promise<void>;
  /** Send FIN; reading goes on. */
  closeWrite(): Promise<void>;
  /** Close both ways at once. Idempotent. */
  close(): void;
  /** Close with RST where the runtime allows (else a plain close). Idempotent. */
  abort?(): void;
}

export interface Listener {
  readonly addr: SockAddr;
  /** Stop accepting and free the port; accepted connections keep working. Idempotent. */
  close(): void;
}

export interface ListenOptions {
  host: string;
  port: number;
  /** @default 511 */
  backlog?: number;
  /** SO_REUSEPORT, for runtime.workers > 1. @default false */
  reusePort?: boolean;
}

export interface ConnectOptions {
  host: string;
  port: number;
  /** The socket is freed when this fires; rejects with an ETIMEDOUT SluiceError. */
  timeoutMs: number;
  /** Aborting rejects with an ABORTED SluiceError and frees the socket. */
  signal?: AbortSignal;
}

/** Byte counters, updated in place while a splice runs (read by admin and metrics). */
export interface ByteCounters {
  /** client -> backend (`a` -> `b`) */
  up: number;
  /** backend -> client (`b` -> `a`) */
  down: number;
}

export type SpliceEndReason =
  | "eof" // both sides finished (FIN both ways, or one side closed after its peer's FIN)
  | "idle" // no byte either way for idleTimeoutMs
  | "half_close" // half-closed, and no byte for halfCloseTimeoutMs
  | "error" // a socket error (reset, broken pipe): `error.code` names it; the other side is
  //           aborted, not closed (RST on Bun; Deno has no SO_LINGER, so a plain close there)
  | "aborted"; // the signal fired (drain timeout, shutdown)

export interface SpliceResult {
  readonly up: number;
  readonly down: number;
  readonly reason: SpliceEndReason;
  /** Which side failed, for reason "error". */
  readonly errorSide?: "a" | "b";
  /** A SluiceError for reason "error": its code says why (ECONNRESET, EPIPE, ...). */
  readonly error?: Error;
}

export interface SpliceOptions {
  /** Close both when no byte flows either way for this long; 0 or absent = never. */
  idleTimeoutMs?: number;
  /**
   * Once one side has finished (its FIN passed on) and the other has not, close both when no
   * byte flows for this long (HAProxy's client-fin/server-fin). 0 = never. @default 300000
   */
  halfCloseTimeoutMs?: number;
  /** Closes both sides and resolves with reason "aborted". */
  signal?: AbortSignal;
  /** Updated live as bytes move; the same totals are in the result. */
  counters?: ByteCounters;
}

export interface HttpServeOptions {
  host: string;
  port: number;
  /**
   * A connection that has not sent a whole request head within this is closed (slowloris).
   * Deno: @default 10000. Bun: its HTTP server's own (about 10 s), not configurable.
   */
  headerTimeoutMs?: number;
  /**
   * A keep-alive connection idle between requests is closed after this (a response in
   * progress, such as a long poll, is not idle). Deno: @default 15000. Bun: its own.
   */
  idleTimeoutMs?: number;
}

export interface HttpHandle {
  readonly port: number;
  readonly host: string;
  /** Graceful by default; `force` also cuts requests in flight. */
  close(o?: { force?: boolean }): Promise<void>;
}

export interface TlsClientOptions {
  /** PEM text of extra CA certificates. */
  ca?: string[];
  /** PEM text of a client certificate and its key (mutual TLS). */
  cert?: string;
  key?: string;
  /** Skip server certificate verification. */
  insecure?: boolean;
}

export type HttpFetch = (url: string, init?: RequestInit) => Promise<Response>;

export type SignalName = "SIGHUP" | "SIGUSR1" | "SIGTERM" | "SIGINT";

export interface Watcher {
  close(): void;
}

export interface Runtime {
  readonly name: "deno" | "bun";
  readonly version: string;
  /** Throws a SluiceError (EADDRINUSE, EACCES, EADDRNOTAVAIL, ...) when the bind fails. */
  listen(o: ListenOptions, onConn: (c: Conn) => void): Listener;
  connect(o: ConnectOptions): Promise<Conn>;
  /**
   * Copy both ways until both directions are done, with backpressure and half-close:
   * a FIN from one side is passed on as a FIN to the other, and the other direction goes on.
   * Closes both connections before it resolves. Never rejects.
   */
  splice(a: Conn, b: Conn, o?: SpliceOptions): Promise<SpliceResult>;
  serveHttp(
    o: HttpServeOptions,
    fetch: (r: Request, info: { remote: SockAddr | undefined }) => Response | Promise<Response>,
  ): Promise<HttpHandle>;
  /** A fetch with custom TLS; without options it is the global fetch. */
  httpClient(tls?: TlsClientOptions): HttpFetch;
  /**
   * Returns a function that removes the handler. SIGUSR1 is never handed out on Deno (Deno
   * opens its debugger on it; the adapter closes that again): the handler is not installed.
   */
  onSignal(sig: SignalName, fn: () => void): () => void;
  /**
   * Call `onChange` (debounced) when the file changes, also when it is replaced by an atomic
   * rename-save or created after being missing: watches the parent directory.
   */
  watchFile(path: string, onChange: () => void, o?: { debounceMs?: number }): Watcher;
}
