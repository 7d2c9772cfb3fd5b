// Provider addresses (Consul, Nomad): the one normalisation, shared by the config loader and
// the providers. "127.0.0.1:8500" gets "http://"; the result has no trailing slash.
import { SluiceError } from "../errors.ts";
import { redactUserinfo } from "../text/redact.ts";

/**
 * Validates and normalises a provider address to "http(s)://host:port[/path]" without a
 * trailing slash; on failure, the reason (what was expected) as a string. Never throws.
 */
export function checkProviderUrl(address: unknown): { url: string } | string {
  if (typeof address !== "string" || address.trim() === "") {
    return 'missing (expected a URL such as "http://127.0.0.1:8500")';
  }
  let text = address.trim();
  // Consul and Nomad addresses are often written without a scheme ("127.0.0.1:8500").
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `http://${text}`;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
    return `expected an http:// or https:// URL such as "http://127.0.0.1:8500", got ${
      JSON.stringify(redactUserinfo(address))
    }`;
  }
  if (url.search || url.hash || url.username || url.password) {
    return "expected a plain URL without query, fragment or credentials";
  }
  return { url: `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}` };
}

/**
 * checkProviderUrl that throws SluiceError("CONFIG") in the key-path form
 * ("routing.consul.address: expected ...").
 */
export function normaliseAddress(address: unknown, keyPath: string): string {
  const r = checkProviderUrl(address);
  if (typeof r === "string") throw new SluiceError("CONFIG", `${keyPath}: ${r}`);
  return r.url;
}
