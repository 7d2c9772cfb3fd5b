// Maps Deno, Bun and node:net errors to SluiceError codes at the adapter's edge. Deno errors
// often carry only a class name or a message (DNS failures have no code), so both are read.
import { causeChain, type ErrorCode, SluiceError } from "../errors.ts";

const BY_CODE: Record<string, ErrorCode> = {
  EADDRINUSE: "EADDRINUSE",
  EACCES: "EACCES",
  EPERM: "EACCES",
  EADDRNOTAVAIL: "EADDRNOTAVAIL",
  ECONNREFUSED: "ECONNREFUSED",
  ETIMEDOUT: "ETIMEDOUT",
  ETIMEOUT: "ETIMEDOUT",
  ENOTFOUND: "ENOTFOUND",
  EAI_AGAIN: "ENOTFOUND",
  EAI_NONAME: "ENOTFOUND",
  EAI_FAIL: "ENOTFOUND",
  DNSException: "ENOTFOUND",
  ECONNRESET: "ECONNRESET",
  ECONNABORTED: "ECONNRESET",
  EPIPE: "EPIPE",
  EBADF: "ECLOSED",
  ERR_SOCKET_CLOSED: "ECLOSED",
  ERR_STREAM_DESTROYED: "ECLOSED",
  ABORT_ERR: "ABORTED",
  // Local resources, not the peer's fault (no ejection): one code, the errno stays in the text.
  EMFILE: "ERESOURCE",
  ENFILE: "ERESOURCE",
  ENOBUFS: "ERESOURCE",
  ENOMEM: "ERESOURCE",
};

// Deno error classes (Deno.errors.*) by constructor name.
const BY_NAME: Record<string, ErrorCode> = {
  AddrInUse: "EADDRINUSE",
  PermissionDenied: "EACCES",
  NotCapable: "EACCES",
  AddrNotAvailable: "EADDRNOTAVAIL",
  ConnectionRefused: "ECONNREFUSED",
  ConnectionReset: "ECONNRESET",
  ConnectionAborted: "ECONNRESET",
  BrokenPipe: "EPIPE",
  TimedOut: "ETIMEDOUT",
  TimeoutError: "ETIMEDOUT",
  AbortError: "ABORTED",
  BadResource: "ECLOSED",
  Interrupted: "ECLOSED",
  NotConnected: "ECLOSED",
};

const BY_MESSAGE: [RegExp, ErrorCode][] = [
  [
    /too many open files|EMFILE|ENFILE|no buffer space available|ENOBUFS|cannot allocate memory|ENOMEM/i,
    "ERESOURCE",
  ],
  [/address already in use|EADDRINUSE/i, "EADDRINUSE"],
  [/permission denied|EACCES/i, "EACCES"],
  [/cannot assign requested address|address not available|EADDRNOTAVAIL/i, "EADDRNOTAVAIL"],
  [/connection refused|ECONNREFUSED/i, "ECONNREFUSED"],
  [/timed out|timeout|ETIMEDOUT/i, "ETIMEDOUT"],
  [
    /failed to lookup address|name or service not known|no address associated|nodename nor servname|temporary failure in name resolution|ENOTFOUND|dns error/i,
    "ENOTFOUND",
  ],
  [/connection reset|ECONNRESET/i, "ECONNRESET"],
  [/broken pipe|EPIPE/i, "EPIPE"],
];

/** The normalised code of any runtime error (`cause` is followed once). */
export function runtimeErrorCode(err: unknown): ErrorCode {
  if (err instanceof SluiceError) return err.code;
  for (const e of causeChain(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && BY_CODE[code]) return BY_CODE[code];
    const name = (e as { name?: unknown }).name;
    const ctor = (e as { constructor?: { name?: string } }).constructor?.name;
    if (typeof name === "string" && BY_NAME[name]) return BY_NAME[name];
    if (ctor && BY_NAME[ctor]) return BY_NAME[ctor];
    const message = (e as { message?: unknown }).message;
    if (typeof message === "string") {
      for (const [re, c] of BY_MESSAGE) if (re.test(message)) return c;
    }
  }
  return "EUNKNOWN";
}

function innerMessage(err: unknown): string {
  let msg = err instanceof Error ? err.message : String(err);
  const cause = err instanceof Error ? (err as { cause?: unknown }).cause : undefined;
  // Deno fetch: TypeError("fetch failed") with the real text in cause.message.
  if (cause instanceof Error && cause.message && !msg.includes(cause.message)) {
    msg = `${msg}: ${cause.message}`;
  }
  return msg;
}

/** The URL without query, fragment or credentials, for messages (tokens must not leak). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "<invalid url>";
  }
}

/** A fetch failure as a SluiceError whose message never repeats the query or userinfo. */
export function fetchError(err: unknown, url: string): SluiceError {
  if (err instanceof SluiceError) return err;
  const code = runtimeErrorCode(err);
  let text = innerMessage(err);
  const safe = safeUrl(url);
  text = text.split(url).join(safe);
  try {
    const u = new URL(url);
    if (u.search) text = text.split(u.search).join("");
    if (u.password) text = text.split(u.password).join("***");
  } catch { /* not a URL: nothing more to scrub */ }
  return new SluiceError(code, `Cannot fetch ${safe}: ${code} (${text})`, { cause: err });
}

/**
 * A SluiceError for `action` (e.g. `listen on 127.0.0.1:80`): the normalised code, a message
 * that names the action, and the original error as `cause`.
 */
export function toSluiceError(err: unknown, action: string): SluiceError {
  if (err instanceof SluiceError) return err;
  const code = runtimeErrorCode(err);
  return new SluiceError(code, `Cannot ${action}: ${code} (${innerMessage(err)})`, { cause: err });
}
