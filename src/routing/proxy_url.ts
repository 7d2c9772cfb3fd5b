// The `proxy` field of a service: parsed once, shown everywhere with the password redacted.
import { SluiceError } from "../errors.ts";
import { redactUserinfo } from "../text/redact.ts";
import type { ProxyUrl } from "./types.ts";
import { bracketHost } from "../net/host_port.ts";

/**
 * Parses "socks5://user:pass@host:port" or "socks5h://..."; throws SluiceError("ROUTING"). Error
 * messages show the text with its password redacted before parsing (redactUserinfo), so a URL
 * that does not parse (a "/" or "@" in the password, a bad port) never shows any of it.
 */
export function parseProxyUrl(text: string): ProxyUrl {
  const shown = redactUserinfo(text);
  const fail = (why: string): never => {
    throw new SluiceError("ROUTING", `Cannot use proxy "${shown}": ${why}`);
  };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SluiceError("ROUTING", `Cannot parse proxy URL "${shown}": not a URL`);
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== "socks5" && scheme !== "socks5h") {
    return fail(`scheme "${scheme}" is not supported (expected socks5 or socks5h)`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) return fail("no host");
  const port = url.port === "" ? 1080 : Number(url.port);
  // The path is not shown: with an unencoded "@" in it, it may be part of a password.
  if (url.pathname !== "" && url.pathname !== "/") return fail("unexpected path after the host");
  const out: { -readonly [K in keyof ProxyUrl]: ProxyUrl[K] } = { scheme, host, port };
  try {
    if (url.username) out.username = decodeURIComponent(url.username);
    if (url.password) out.password = decodeURIComponent(url.password);
  } catch {
    return fail("bad percent-encoding in credentials");
  }
  if ((out.username?.length ?? 0) > 255 || (out.password?.length ?? 0) > 255) {
    return fail("user or password longer than 255 bytes");
  }
  return out;
}

/** "socks5://user:***@10.0.0.5:1080 ─➤ 10.0.0.9:80" (peek, logs); the address alone when direct. */
export function formatRoute(via: string | undefined, address: string): string {
  return via ? `${via} ─➤ ${address}` : address;
}

/** "socks5://user:***@10.0.0.5:1080": never shows the password. */
export function formatProxyUrl(p: ProxyUrl): string {
  const host = bracketHost(p.host);
  const user = p.username !== undefined
    ? `${encodeURIComponent(p.username)}${p.password !== undefined ? ":***" : ""}@`
    : "";
  return `${p.scheme}://${user}${host}:${p.port}`;
}
