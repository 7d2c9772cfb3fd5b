// httpClient() on Bun: fetch with Bun's per-request `tls` options.
import { fetchError } from "../_errors.ts";
import type { HttpFetch, TlsClientOptions } from "../types.ts";

export function httpClient(tls?: TlsClientOptions): HttpFetch {
  const plain = !tls || (!tls.ca?.length && !tls.cert && !tls.key && !tls.insecure);
  const opts: Record<string, unknown> = {};
  if (!plain) {
    if (tls.ca?.length) opts.ca = tls.ca;
    if (tls.cert) opts.cert = tls.cert;
    if (tls.key) opts.key = tls.key;
    if (tls.insecure) opts.rejectUnauthorized = false;
  }
  return async (url, init) => {
    try {
      return await fetch(url, plain ? init : ({ ...init, tls: opts } as RequestInit));
    } catch (e) {
      throw fetchError(e, url);
    }
  };
}
