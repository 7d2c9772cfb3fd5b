// A minimal fetch over node:https, for TLS options a runtime's fetch lacks (Deno cannot skip
// certificate verification per client). Returns standard Response objects with a streamed body.
// The abort signal is honoured by hand, before and after the answer's head: Deno's node:https
// ignores `signal`, and a provider's stop must never wait on a long poll (issue 12, bug 5).
import { request } from "node:https";
import type { IncomingMessage } from "node:http";
import type { HttpFetch, TlsClientOptions } from "./types.ts";

async function bodyBytes(body: BodyInit | null | undefined): Promise<Uint8Array | undefined> {
  if (body === null || body === undefined) return undefined;
  return new Uint8Array(await new Response(body).arrayBuffer());
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The operation was aborted", "AbortError");
}

function toResponse(res: IncomingMessage, signal: AbortSignal | undefined): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
  }
  const status = res.statusCode ?? 502;
  const noBody = status === 204 || status === 304;
  if (noBody) res.resume();
  let onAbort: (() => void) | undefined;
  const settle = () => {
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    onAbort = undefined;
  };
  const stream = noBody ? null : new ReadableStream<Uint8Array>({
    start(controller) {
      let open = true;
      const fail = (e: unknown) => {
        if (!open) return;
        open = false;
        settle();
        try {
          controller.error(e);
        } catch {
          // already closed or errored
        }
        res.destroy();
      };
      if (signal) {
        onAbort = () => fail(abortReason(signal));
        signal.addEventListener("abort", onAbort, { once: true });
      }
      res.on("data", (c: Uint8Array) => {
        if (!open) return;
        controller.enqueue(new Uint8Array(c));
        if ((controller.desiredSize ?? 1) <= 0) res.pause();
      });
      res.on("end", () => {
        if (!open) return;
        open = false;
        settle();
        controller.close();
      });
      res.on("error", fail);
    },
    pull() {
      res.resume();
    },
    cancel() {
      settle();
      res.destroy();
    },
  }, { highWaterMark: 4 });
  return new Response(stream, { status, statusText: res.statusMessage ?? "", headers });
}

export function nodeHttpsFetch(tls: TlsClientOptions): HttpFetch {
  return async (url, init = {}) => {
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    const u = new URL(url);
    const body = await bodyBytes(init.body);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    if (body && headers["content-length"] === undefined) {
      headers["content-length"] = String(body.byteLength);
    }
    signal?.throwIfAborted();
    return await new Promise<Response>((resolve, reject) => {
      const opts: Parameters<typeof request>[1] = {
        method: init.method ?? "GET",
        headers,
        rejectUnauthorized: !tls.insecure,
      };
      if (tls.ca?.length) opts.ca = tls.ca;
      if (tls.cert) opts.cert = tls.cert;
      if (tls.key) opts.key = tls.key;
      const req = request(u.href, opts, (res) => {
        signal?.removeEventListener("abort", onAbort);
        if (signal?.aborted) {
          res.destroy();
          reject(abortReason(signal));
          return;
        }
        resolve(toResponse(res, signal));
      });
      // Until the head arrives the request is ours to cut; afterwards the body stream is.
      const onAbort = () => {
        reject(abortReason(signal!));
        req.destroy();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", (e) => {
        signal?.removeEventListener("abort", onAbort);
        reject(e);
      });
      req.end(body);
    });
  };
}
