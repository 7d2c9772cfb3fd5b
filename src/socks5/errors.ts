// The SOCKS5 failure type: code "SOCKS5" plus what went wrong, so the engine can tell a backend
// refused behind the proxy (reply 0x05) from a proxy that misbehaves, without reading messages.
import { SluiceError } from "../errors.ts";

export type Socks5FailureKind =
  /** RFC 1929 username/password sub-negotiation answered with a non-zero status */
  | "auth_rejected"
  /** The proxy accepts none of the methods offered (0xFF) */
  | "no_acceptable_method"
  /** The proxy answered the CONNECT with a non-zero reply code (see `reply`) */
  | "reply"
  /** The proxy closed the connection before the handshake was over */
  | "closed_early"
  /** The proxy answered bytes that are not SOCKS5 (bad version, reserved byte, ATYP, method) */
  | "garbage"
  /** The handshake did not finish in time */
  | "handshake_timeout";

export class Socks5Error extends SluiceError {
  readonly kind: Socks5FailureKind;
  /** The CONNECT reply code (0x01-0xFF) for kind "reply". */
  readonly reply?: number;
  constructor(
    kind: Socks5FailureKind,
    message: string,
    options?: { reply?: number; cause?: unknown },
  ) {
    super("SOCKS5", message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "Socks5Error";
    this.kind = kind;
    if (options?.reply !== undefined) this.reply = options.reply;
  }
}
