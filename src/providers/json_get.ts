// The JSON read of the Consul and Nomad providers: one GET with the source's headers, a timeout
// and the stop signal (AbortSignal.timeout/any), a capped body, and every failure classified as
// a SluiceError with a PROVIDER_* code whose message never holds the token.
import { errorCode, errorMessage, SluiceError } from "../errors.ts";
import type { HttpFetch } from "../runtime/types.ts";
import { abortable } from "../net/abortable.ts";
import { type BodyBuffer, readCapped } from "./http_client.ts";
import type { FailureKind, ProviderFailure } from "./status.ts";

export interface JsonAnswer<T = unknown> {
  readonly body: T;
  readonly headers: Headers;
}

export interface JsonGetRequest<T> {
  readonly timeoutMs: number;
  /** Names the request in errors ("consul: health/state/any"). */
  readonly what: string;
  /**
   * Reads the answer's bytes instead of JSON.parse of their text (a reader that keeps state
   * between answers). A SluiceError it throws is passed on; any other throw means "not JSON".
   */
  readonly parse?: (bytes: Uint8Array) => T;
  /** Reads the body into this buffer (an answer that is large and repeats; `parse` reads it). */
  readonly into?: BodyBuffer;
}

/** GETs JSON with the source's headers, a timeout and classified failures. */
export type JsonGet = <T = unknown>(url: string, o: JsonGetRequest<T>) => Promise<JsonAnswer<T>>;

/** The failure kind of each provider code (what the status and the log call it). */
const KINDS: Partial<Record<string, FailureKind>> = {
  PROVIDER_UNREACHABLE: "unreachable",
  PROVIDER_TIMEOUT: "timeout",
  PROVIDER_FORBIDDEN: "forbidden",
  PROVIDER_BAD_REQUEST: "bad_request",
  PROVIDER_HTTP_STATUS: "http_status",
  PROVIDER_GARBAGE: "garbage",
  PROVIDER_TOO_LARGE: "too_large",
};

/** A provider failure as the status tracker takes it; anything unexpected is "garbage". */
export function failureOf(err: unknown, what: string): ProviderFailure {
  if (err instanceof SluiceError) {
    return { kind: KINDS[err.code] ?? "garbage", message: err.message, key: err.key };
  }
  return { kind: "garbage", message: `${what}: ${errorMessage(err)}`, key: "garbage" };
}

/** Whether an error is the provider's own stop (never reported as a failure). */
export function isStopped(err: unknown): boolean {
  return errorCode(err) === "ABORTED";
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join("***");
  return out;
}

/** One line of an error body: trimmed, HTML reduced to a note. */
function bodyReason(text: string): string {
  const t = text.trim();
  if (/^<(!doctype|html)/i.test(t)) {
    return "an HTML page (an intermediary such as a proxy answered)";
  }
  const line = t.split("\n")[0] ?? "";
  return line.length > 200 ? `${line.slice(0, 200)}...` : line || "empty body";
}

/** Describes a thrown fetch error without leaking anything the URL or headers held. */
function networkError(err: unknown, what: string, timedOut: boolean): SluiceError {
  if (timedOut) {
    return new SluiceError("PROVIDER_TIMEOUT", `${what}: no answer within the timeout`);
  }
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
  const code = typeof e?.code === "string"
    ? e.code
    : typeof e?.cause?.code === "string"
    ? e.cause.code
    : "";
  const msg = typeof e?.message === "string" ? e.message : String(err);
  return new SluiceError("PROVIDER_UNREACHABLE", `${what}: connection failed (${code || msg})`);
}

export interface JsonGetOptions {
  fetch: HttpFetch;
  kind: string;
  /** Sent with every request (the token lives here only). */
  headers: Readonly<Record<string, string>>;
  /** Scrubbed from any text that came from the server. */
  secrets: readonly string[];
  /** Ends every request at once (the provider's stop). */
  stop: AbortSignal;
  /** The largest answer read. */
  maxBytes: number;
}

/** How much of an error answer is read for its reason. */
const REASON_BYTES = 64 * 1024;

export function createJsonGet(o: JsonGetOptions): JsonGet {
  return async <T>(url: string, { timeoutMs, what, parse, into }: JsonGetRequest<T>) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([o.stop, timeout]);
    let res: Response;
    let bytes: Uint8Array;
    try {
      // The race is the guarantee: even a fetch that ignored its signal cannot hold a stop.
      [res, bytes] = await abortable(
        (async () => {
          // Bun's fetch drops a quiet socket after 5 min unless told otherwise (reference 6.7).
          const init = { headers: o.headers, signal, timeout: false };
          const r = await o.fetch(url, init as RequestInit);
          const max = r.ok ? o.maxBytes : REASON_BYTES;
          const read = { max, who: o.kind, url, ...(r.ok && into ? { into } : {}) };
          const b = await readCapped(r, read).catch((e) => {
            if (!r.ok && errorCode(e) === "PROVIDER_TOO_LARGE") return new Uint8Array(0);
            throw e;
          });
          return [r, b] as const;
        })(),
        signal,
      );
    } catch (err) {
      if (o.stop.aborted) throw new SluiceError("ABORTED", `${what}: stopped`);
      if (errorCode(err) === "PROVIDER_TOO_LARGE") throw err;
      throw networkError(err, what, timeout.aborted);
    }
    const status = res.status;
    const reason = () => redact(bodyReason(new TextDecoder().decode(bytes)), o.secrets);
    if (status === 403 || status === 401) {
      const r = reason();
      throw new SluiceError("PROVIDER_FORBIDDEN", `${what}: ${status} ${r} (check the token)`, {
        key: `forbidden:${r}`,
      });
    }
    if (status === 400) {
      const r = reason();
      throw new SluiceError(
        "PROVIDER_BAD_REQUEST",
        `${what}: 400 ${r} (a configuration error: check routing.${o.kind}.*)`,
        { key: `bad_request:${r}` },
      );
    }
    if (status < 200 || status > 299) {
      throw new SluiceError("PROVIDER_HTTP_STATUS", `${what}: ${status} ${reason()}`, {
        key: `http_status:${status}`,
      });
    }
    try {
      const body = parse ? parse(bytes) : JSON.parse(new TextDecoder().decode(bytes)) as T;
      return { body, headers: res.headers };
    } catch (err) {
      if (err instanceof SluiceError) throw err;
      throw new SluiceError("PROVIDER_GARBAGE", `${what}: the answer is not JSON (${reason()})`);
    }
  };
}
