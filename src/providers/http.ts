// The HTTP provider (`routing.http.*`): polls an endpoint for a routing document, with conditional
// requests, a size cap, and backoff plus jitter while it fails (keeping its last good routes).
import { errorCode, errorMessage, SluiceError } from "../errors.ts";
import type { HttpProviderConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import {
  createDocumentParser,
  type DocumentFormat,
  formatFromContentType,
  formatFromPath,
} from "../routing/document.ts";
import type { ServiceSpec } from "../routing/types.ts";
import type { Runtime } from "../runtime/types.ts";
import { createBackoff, type PacingClock, WALL_CLOCK } from "./backoff.ts";
import {
  contentHash,
  everyServiceRejected,
  logRouteProblems,
  noValidServiceMessage,
} from "./document_source.ts";
import { abortable } from "../net/abortable.ts";
import { createProviderFetch, readCapped, redactUrl } from "./http_client.ts";
import { createStatusTracker, type ProviderFailure } from "./status.ts";
import type { Provider, ProviderStatus } from "./types.ts";

export { redactUrl };

export interface HttpProviderOptions {
  rt: Runtime;
  config: HttpProviderConfig;
  log: Logger;
  /** [0, 1), for the backoff jitter. @default Math.random */
  random?: () => number;
  /** Retry pacing while failing. @default { baseMs: 1000, maxMs: max(60000, poll interval) } */
  backoff?: { baseMs?: number; maxMs?: number };
  /** @default "http" */
  name?: string;
  /** The time polls and retries wait by. @default wall time */
  clock?: PacingClock;
}

const ACCEPT = "application/json, application/yaml, application/toml, text/yaml;q=0.9, */*;q=0.5";
/** How much of an error answer's body is read for its reason. */
const REASON_BYTES = 1024;

/** The first line of an error answer, short, for the log ("ACL not found"). */
async function reasonOf(res: Response, url: string): Promise<string> {
  try {
    const body = await readCapped(res, { max: 64 * 1024, who: "http", url });
    const text = new TextDecoder().decode(body.subarray(0, REASON_BYTES));
    const line = text.split(/\r?\n/).find((l) => l.trim() !== "")?.trim() ?? "";
    return line.length > 200 ? `${line.slice(0, 200)}…` : line;
  } catch {
    return "";
  }
}

function decode(bytes: Uint8Array, contentType: string): string {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1];
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset ?? "utf-8", { fatal: true });
  } catch {
    throw new SluiceError("ROUTING", `unknown charset "${charset}" in Content-Type`);
  }
  try {
    return decoder.decode(bytes);
  } catch {
    throw new SluiceError("ROUTING", `the body is not valid ${charset ?? "utf-8"} text`);
  }
}

/**
 * The HTTP provider (SPEC section 2, `routing.http.*`). Throws SluiceError("CONFIG") when the TLS
 * settings cannot be used.
 */
export function createHttpProvider(o: HttpProviderOptions): Provider {
  const name = o.name ?? "http";
  const c = o.config;
  const log = o.log;
  const where = redactUrl(c.endpoint);
  const source = `http:${where}`;
  // Successive answers: an edit re-parses and re-validates only what it touched.
  const parser = createDocumentParser(source);
  const tracker = createStatusTracker({ name, kind: "http", log });
  const clock = o.clock ?? WALL_CLOCK;
  const backoff = createBackoff({
    baseMs: o.backoff?.baseMs ?? 1000,
    maxMs: o.backoff?.maxMs ?? Math.max(60_000, c.pollIntervalMs),
    ...(o.random ? { random: o.random } : {}),
  });
  const stopper = new AbortController();
  const fetcher = createProviderFetch(o.rt, c.tls, "routing.http");
  let baseHeaders: Headers;
  try {
    baseHeaders = new Headers(c.headers);
  } catch (err) {
    throw new SluiceError("CONFIG", `routing.http.headers: ${errorMessage(err)}`, { cause: err });
  }
  if (!baseHeaders.has("accept")) baseHeaders.set("accept", ACCEPT);
  // Header values are often credentials; a server may echo them back in an error body.
  const secrets = Object.values(c.headers).filter((v) => v.length >= 4);
  const redact = (text: string) => secrets.reduce((t, v) => t.split(v).join("***"), text);
  let onSnapshot: ((s: readonly ServiceSpec[]) => void) | undefined;
  let loop: Promise<void> | undefined;
  // Validators and hash of the last good answer: only an answer we used may be confirmed by 304.
  let etag: string | undefined;
  let lastModified: string | undefined;
  let lastGoodHash: string | undefined;

  function fail(f: ProviderFailure): false {
    if (!stopper.signal.aborted) tracker.failed(f);
    return false;
  }

  function formatOf(contentType: string): DocumentFormat | undefined {
    const byType = contentType ? formatFromContentType(contentType) : undefined;
    if (byType) return byType;
    try {
      return formatFromPath(new URL(c.endpoint).pathname);
    } catch {
      return undefined;
    }
  }

  function remember(res: Response): void {
    etag = res.headers.get("etag") ?? undefined;
    lastModified = res.headers.get("last-modified") ?? undefined;
  }

  /** One request; true when the endpoint answered usefully (new, unchanged or 304). */
  async function pollOnce(): Promise<boolean> {
    const timeout = AbortSignal.timeout(c.pollTimeoutMs);
    // The signal also covers the body read, so a trickling body cannot hold the loop.
    const signal = AbortSignal.any([timeout, stopper.signal]);
    const headers = new Headers(baseHeaders);
    if (lastGoodHash !== undefined) {
      if (etag) headers.set("if-none-match", etag);
      if (lastModified) headers.set("if-modified-since", lastModified);
    }
    const timedOut = (): ProviderFailure => ({
      kind: "timeout",
      message: `GET ${where}: no complete answer within ${c.pollTimeoutMs} ms`,
    });

    let res: Response;
    try {
      res = await abortable(
        fetcher(c.endpoint, { headers, signal, redirect: "follow" }),
        signal,
      );
    } catch (err) {
      if (stopper.signal.aborted) return false;
      if (timeout.aborted || errorCode(err) === "ETIMEDOUT") return fail(timedOut());
      return fail({ kind: "unreachable", message: `GET ${where}: ${errorMessage(err)}` });
    }

    try {
      if (res.status === 304) {
        await res.body?.cancel().catch(() => {});
        // Only an answer we used may be confirmed: a 304 to a request without validators
        // (a broken server or cache) confirms nothing, and must not leave us "waiting" forever.
        if (lastGoodHash === undefined) {
          return fail({
            kind: "http_status",
            message: `GET ${where}: HTTP 304 to a request without validators (nothing to reuse)`,
            key: "http_304",
          });
        }
        tracker.unchanged(etag || lastModified ? { index: etag ?? lastModified ?? "" } : {});
        return true;
      }
      if (!res.ok) {
        const reason = redact(await abortable(reasonOf(res, c.endpoint), signal));
        const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
        const kind = res.status === 401 || res.status === 403
          ? "forbidden"
          : res.status === 400
          ? "bad_request"
          : "http_status";
        return fail({
          kind,
          message: `GET ${where}: ${status}${reason ? `: ${reason}` : ""}`,
          key: `http_${res.status}`,
        });
      }
      let body: Uint8Array;
      try {
        body = await abortable(
          readCapped(res, { max: c.maxBytes, who: "http", url: c.endpoint }),
          signal,
        );
      } catch (err) {
        if (errorCode(err) !== "PROVIDER_TOO_LARGE") throw err;
        return fail({ kind: "too_large", message: errorMessage(err) });
      }

      const hash = contentHash(body);
      if (hash === lastGoodHash) {
        remember(res);
        tracker.unchanged({ index: etag ?? lastModified ?? hash });
        return true;
      }
      const contentType = res.headers.get("content-type") ?? "";
      const format = formatOf(contentType);
      if (format === undefined) {
        return fail({
          kind: "garbage",
          message: `GET ${where}: cannot tell the routing format from Content-Type ${
            JSON.stringify(contentType)
          } or the URL's extension (expected JSON, TOML or YAML)`,
          key: `garbage:content-type:${contentType}`,
        });
      }
      let parsed;
      try {
        parsed = parser.parse(decode(body, contentType), format);
      } catch (err) {
        const message = err instanceof SluiceError && err.message.startsWith(source)
          ? err.message
          : `${source}: ${errorMessage(err)}`;
        return fail({ kind: "garbage", message, key: `garbage:${message}` });
      }
      if (everyServiceRejected(parsed) && tracker.status().services > 0) {
        const message = noValidServiceMessage(source, parsed.problems);
        const f = { kind: "garbage", message, key: `garbage:${message}` } as const;
        if (!stopper.signal.aborted && tracker.failed(f)) logRouteProblems(log, parsed.problems);
        return false;
      }
      logRouteProblems(log, parsed.problems, parsed.notices);
      remember(res);
      lastGoodHash = hash;
      tracker.delivered({ services: parsed.services.length, index: etag ?? lastModified ?? hash });
      log.info("routing loaded", {
        provider: name,
        endpoint: where,
        services: parsed.services.length,
      });
      onSnapshot?.(parsed.services);
      return true;
    } catch (err) {
      // The body read failed: cut by the peer, or the timeout fired part way.
      if (stopper.signal.aborted) return false;
      if (timeout.aborted) return fail(timedOut());
      return fail({
        kind: "unreachable",
        message: `GET ${where}: the answer was cut: ${errorMessage(err)}`,
      });
    }
  }

  async function run(): Promise<void> {
    while (!stopper.signal.aborted) {
      const ok = await pollOnce();
      if (stopper.signal.aborted) break;
      // Failing: back off (with jitter) instead of hammering at the poll interval.
      if (ok) backoff.reset();
      await clock.sleep(ok ? c.pollIntervalMs : backoff.next(), stopper.signal);
    }
  }

  return {
    name,
    kind: "http",
    start(fn) {
      if (onSnapshot || stopper.signal.aborted) return;
      onSnapshot = fn;
      loop = run().catch((err) => {
        // A bug, not a network failure (those are handled in pollOnce): say so loudly.
        log.error("provider loop crashed", { provider: name, error: errorMessage(err) });
      });
    },
    async stop() {
      stopper.abort();
      await loop;
      tracker.stopped();
    },
    status(): ProviderStatus {
      return tracker.status();
    },
  };
}
