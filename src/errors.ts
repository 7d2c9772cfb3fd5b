// The one error type of sluice. Runtime errors are mapped to these codes at the edge
// (src/runtime/), so everything above the adapter switches on `code`, never on messages.

export type ErrorCode =
  // sockets (normalised by the runtime adapter)
  | "EADDRINUSE"
  | "EACCES"
  | "EADDRNOTAVAIL"
  | "ECONNREFUSED"
  | "ETIMEDOUT"
  | "ENOTFOUND"
  | "ECONNRESET"
  | "EPIPE"
  | "ECLOSED"
  | "ERESOURCE" // out of a local resource (EMFILE, ENFILE, ENOBUFS, ENOMEM): not the peer's fault
  | "EUNKNOWN"
  // sluice's own
  | "CONFIG" // a usage or configuration error (exit 2)
  | "ROUTING" // a routing document or route that is invalid
  | "PROVIDER" // a provider could not deliver
  // a provider's read failed, by cause (each maps to a ProviderStatus failure kind)
  | "PROVIDER_UNREACHABLE" // connection refused or reset, DNS, TLS
  | "PROVIDER_TIMEOUT" // no complete answer within the timeout
  | "PROVIDER_FORBIDDEN" // 401/403, or an answer hidden by ACLs: the token is wrong
  | "PROVIDER_BAD_REQUEST" // 400: our request or configuration is wrong
  | "PROVIDER_HTTP_STATUS" // any other non-2xx answer
  | "PROVIDER_GARBAGE" // an answer that does not parse or has the wrong shape
  | "PROVIDER_TOO_LARGE" // a provider's answer or file is over its size cap
  | "SOCKS5" // a SOCKS5 proxy refused or misbehaved
  | "PROXY_PROTOCOL" // a PROXY protocol header was missing, malformed or untrusted
  | "NO_BACKEND" // nothing in the pool could take the connection
  | "ABORTED";

export class SluiceError extends Error {
  readonly code: ErrorCode;
  /**
   * Tells failure states apart where one code covers several (a provider logs a failure once
   * per change of key, not per retry). @default the code
   */
  readonly key: string;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; key?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SluiceError";
    this.code = code;
    this.key = options?.key ?? code;
  }
}

export interface ConfigProblem {
  /** Key path, e.g. "listeners.port_min" */
  readonly path: string;
  /** What was wrong and what was expected; may name the source (file, env variable, flag) */
  readonly message: string;
}

/**
 * The SluiceError with code "CONFIG" (usage and configuration errors, exit 2) that carries
 * every problem found, so a config is reported whole rather than one problem per run.
 */
export class ConfigError extends SluiceError {
  readonly problems: readonly ConfigProblem[];
  constructor(message: string, problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    super("CONFIG", message, options);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** The code of any thrown value: ours, or "EUNKNOWN". */
export function errorCode(err: unknown): ErrorCode {
  return err instanceof SluiceError ? err.code : "EUNKNOWN";
}

/** A one-line message for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** An error, its cause, the cause's cause and so on, each once (a cycle ends the walk). */
export function* causeChain(err: unknown): Generator<object> {
  const seen = new Set<unknown>();
  for (
    let e: unknown = err;
    e && typeof e === "object" && !seen.has(e);
    e = (e as { cause?: unknown }).cause
  ) {
    seen.add(e);
    yield e;
  }
}

const RESOURCE_ERRNOS = /\b(?:EMFILE|ENFILE|ENOBUFS|ENOMEM)\b/;

/**
 * The errno behind an ERESOURCE error ("EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"), read from its
 * code, message or cause; "unknown" when none is named.
 */
export function resourceErrno(err: unknown): string {
  for (const e of causeChain(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && RESOURCE_ERRNOS.test(code)) return code;
    const message = String((e as { message?: unknown }).message ?? "");
    const m = RESOURCE_ERRNOS.exec(message);
    if (m) return m[0];
    // Deno names only the OS's text ("Too many open files (os error 24)").
    for (const [re, errno] of RESOURCE_TEXTS) if (re.test(message)) return errno;
  }
  return "unknown";
}

const RESOURCE_TEXTS: readonly [RegExp, string][] = [
  [/too many open files in system/i, "ENFILE"],
  [/too many open files/i, "EMFILE"],
  [/no buffer space available/i, "ENOBUFS"],
  [/cannot allocate memory|out of memory/i, "ENOMEM"],
];
