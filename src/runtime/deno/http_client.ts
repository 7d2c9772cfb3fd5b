// httpClient() on Deno: fetch with Deno.createHttpClient for CA and client certificates, and
// node:https where verification is skipped (Deno's fetch cannot skip it per client).
import { fetchError } from "../_errors.ts";
import { nodeHttpsFetch } from "../_node_https_fetch.ts";
import type { HttpFetch, TlsClientOptions } from "../types.ts";

function wrapFetch(f: HttpFetch): HttpFetch {
  return async (url, init) => {
    try {
      return await f(url, init);
    } catch (e) {
      throw fetchError(e, url);
    }
  };
}

export function httpClient(tls?: TlsClientOptions): HttpFetch {
  if (!tls || (!tls.ca?.length && !tls.cert && !tls.key && !tls.insecure)) {
    return wrapFetch((u, i) => fetch(u, i));
  }
  if (tls.insecure) {
    // Deno's fetch cannot skip verification per client; node:https can (matrix row 8).
    const viaNode = nodeHttpsFetch(tls);
    return wrapFetch((u, i) => (u.startsWith("https:") ? viaNode(u, i) : fetch(u, i)));
  }
  const opts: Deno.CreateHttpClientOptions & { cert?: string; key?: string } = {};
  if (tls.ca?.length) opts.caCerts = tls.ca;
  if (tls.cert && tls.key) {
    opts.cert = tls.cert;
    opts.key = tls.key;
  }
  const client = Deno.createHttpClient(
    opts as Deno.CreateHttpClientOptions & Deno.TlsCertifiedKeyPem,
  );
  return wrapFetch((u, i) => fetch(u, { ...i, client } as RequestInit));
}
