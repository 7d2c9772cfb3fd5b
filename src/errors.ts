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

/** The code of any thrown value: ours, or "EUNKNOWN". */
export function errorCode(err: unknown): ErrorCode {
  return err instanceof SluiceError ? err.code : "EUNKNOWN";
}

/** A one-line message for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
