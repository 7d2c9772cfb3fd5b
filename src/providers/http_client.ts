// The one HTTP client of the http, consul and nomad providers: TLS options from the `tls.*`
// keys, client creation with its config error, URL redaction, a body read with a size cap, and
// a request that never outlives its signal (stop or timeout), whatever the runtime's fetch does.
import { DEFAULTS } from "../defaults.ts";
import { errorMessage, SluiceError } from "../errors.ts";
import type { TlsFiles } from "../config/types.ts";
import type { HttpFetch, Runtime, TlsClientOptions } from "../runtime/types.ts";

/** The default cap of a Consul or Nomad answer (`routing.<kind>.max_bytes`). */
export const DEFAULT_MAX_ANSWER_BYTES: number = DEFAULTS.routing.consul.maxBytes;

/** The TLS options of a provider's `tls.*` keys, or undefined when none is set. */
function tlsClientOptions(tls: TlsFiles | undefined): TlsClientOptions | undefined {
  if (!tls) return undefined;
  const o: TlsClientOptions = {};
  if (tls.ca) o.ca = [tls.ca];
  if (tls.cert) o.cert = tls.cert;
  if (tls.key) o.key = tls.key;
  if (tls.insecure) o.insecure = true;
  return Object.keys(o).length ? o : undefined;
}

/**
 * The runtime's HTTP client for a provider's `tls.*` settings. Throws SluiceError("CONFIG")
 * naming `<section>.tls` when the CA, certificate or key cannot be used.
 */
export function createProviderFetch(
  rt: Pick<Runtime, "httpClient">,
  tls: TlsFiles | undefined,
  section: string,
): HttpFetch {
  const o = tlsClientOptions(tls);
  try {
    return o ? rt.httpClient(o) : rt.httpClient();
  } catch (err) {
    throw new SluiceError(
      "CONFIG",
      `${section}.tls: cannot use the CA, certificate or key: ${errorMessage(err)}`,
      { cause: err },
    );
  }
}

/** The URL without credentials or query (either may hold a token), for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? "?…" : ""}`;
  } catch {
    return "<invalid url>";
  }
}

/** The error of an answer over its cap, naming who read it, the URL (redacted) and the cap. */
function tooLargeError(who: string, url: string, max: number): SluiceError {
  return new SluiceError(
    "PROVIDER_TOO_LARGE",
    `${who}: GET ${redactUrl(url)}: the answer is larger than max_bytes (${max} bytes); refused`,
  );
}

/**
 * A buffer kept between reads of an answer that is large and comes again and again (Consul's
 * check list): each chunk is copied in as it arrives, so the chunks die young and no new
 * buffer of the whole answer is made per read. What a read returns is a view of it, valid until
 * the next read. Each read holds a turn: a read that was given up (its request timed out or
 * stopped) but still gets a chunk cannot write into the next read's bytes.
 */
export class BodyBuffer {
  #bytes = new Uint8Array(0);
  #length = 0;
  #turn = 0;

  /** Starts a read and returns its turn. A buffer far larger than the last answer is let go. */
  begin(): number {
    if (this.#bytes.length > 4 * this.#length && this.#bytes.length > 1 << 20) {
      this.#bytes = new Uint8Array(0);
    }
    this.#length = 0;
    return ++this.#turn;
  }

  append(turn: number, chunk: Uint8Array): void {
    if (turn !== this.#turn) throw new Error("the read was superseded by a later one");
    const need = this.#length + chunk.byteLength;
    if (need > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(need, this.#bytes.length * 2, 64 * 1024));
      grown.set(this.#bytes.subarray(0, this.#length));
      this.#bytes = grown;
    }
    this.#bytes.set(chunk, this.#length);
    this.#length = need;
  }

  view(turn: number): Uint8Array {
    if (turn !== this.#turn) throw new Error("the read was superseded by a later one");
    return this.#bytes.subarray(0, this.#length);
  }
}

/**
 * The body, read chunk by chunk: past `max` bytes the read is cancelled (the rest is never
 * received) and SluiceError("PROVIDER_TOO_LARGE") thrown. A Content-Length over the cap is
 * refused before any byte is read. With `into`, the body is read into that buffer and the
 * answer is a view of it.
 */
export async function readCapped(
  res: Response,
  o: { max: number; who: string; url: string; into?: BodyBuffer },
): Promise<Uint8Array> {
  const length = Number(res.headers.get("content-length") ?? NaN);
  if (Number.isFinite(length) && length > o.max) {
    await res.body?.cancel().catch(() => {});
    throw tooLargeError(o.who, o.url, o.max);
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  const into = o.into;
  const turn = into?.begin() ?? 0;
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > o.max) {
        await reader.cancel().catch(() => {});
        throw tooLargeError(o.who, o.url, o.max);
      }
      if (into) into.append(turn, value);
      else chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  if (into) return into.view(turn);
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}
