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
  | "SOCKS5" // a SOCKS5 proxy refused or misbehaved
  | "PROXY_PROTOCOL" // a PROXY protocol header was missing, malformed or untrusted
  | "NO_BACKEND" // nothing in the pool could take the connection
  | "ABORTED";

export class SluiceError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SluiceError";
    this.code = code;
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
