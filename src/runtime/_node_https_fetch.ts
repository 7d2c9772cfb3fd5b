// A minimal fetch over node:https, for TLS options a runtime's fetch lacks (Deno cannot skip
// certificate verification per client). Returns standard Response objects with a streamed body.
import { request } from "node:https";
import type { IncomingMessage } from "node:http";
import type { HttpFetch, TlsClientOptions } from "./types.ts";

async function bodyBytes(body: BodyInit | null | undefined): Promise<Uint8Array | undefined> {
  if (body === null || body === undefined) return undefined;
  return new Uint8Array(await new Response(body).arrayBuffer());
}

function toResponse(res: IncomingMessage): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
  }
  const status = res.statusCode ?? 502;
  const noBody = status === 204 || status === 304;
  const stream = noBody ? null : new ReadableStream<Uint8Array>({
    start(controller) {
      res.on("data", (c: Uint8Array) => {
        controller.enqueue(new Uint8Array(c));
        if ((controller.desiredSize ?? 1) <= 0) res.pause();
      });
      res.on("end", () => controller.close());
      res.on("error", (e) => controller.error(e));
    },
    pull() {
      res.resume();
    },
    cancel() {
      res.destroy();
    },
  }, { highWaterMark: 4 });
  return new Response(stream, { status, statusText: res.statusMessage ?? "", headers });
}

export function nodeHttpsFetch(tls: TlsClientOptions): HttpFetch {
  return async (url, init = {}) => {
    const u = new URL(url);
    const body = await bodyBytes(init.body);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    if (body && headers["content-length"] === undefined) {
      headers["content-length"] = String(body.byteLength);
    }
    return await new Promise<Response>((resolve, reject) => {
      const opts: Parameters<typeof request>[1] = {
        method: init.method ?? "GET",
        headers,
        rejectUnauthorized: !tls.insecure,
      };
      if (tls.ca?.length) opts.ca = tls.ca;
      if (tls.cert) opts.cert = tls.cert;
      if (tls.key) opts.key = tls.key;
      if (init.signal) opts.signal = init.signal;
      const req = request(u.href, opts, (res) => resolve(toResponse(res)));
      req.on("error", reject);
      req.end(body);
    });
  };
}
