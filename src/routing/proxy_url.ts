// The `proxy` field of a service: parsed once, shown everywhere with the password redacted.
import { SluiceError } from "../errors.ts";
import type { ProxyUrl } from "./types.ts";
import { bracketHost } from "../net/host_port.ts";

/** Parses "socks5://user:pass@host:port" or "socks5h://..."; throws SluiceError("ROUTING"). */
export function parseProxyUrl(text: string): ProxyUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SluiceError(
      "ROUTING",
      `Cannot parse proxy URL "${redactProxyText(text)}": not a URL`,
    );
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== "socks5" && scheme !== "socks5h") {
    throw new SluiceError(
      "ROUTING",
      `Cannot use proxy "${
        redactProxyText(text)
      }": scheme "${scheme}" is not supported (expected socks5 or socks5h)`,
    );
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) {
    throw new SluiceError("ROUTING", `Cannot use proxy "${redactProxyText(text)}": no host`);
  }
  const port = url.port === "" ? 1080 : Number(url.port);
  if (url.pathname !== "" && url.pathname !== "/") {
    throw new SluiceError(
      "ROUTING",
      `Cannot use proxy "${redactProxyText(text)}": unexpected path "${url.pathname}"`,
    );
  }
  const out: { -readonly [K in keyof ProxyUrl]: ProxyUrl[K] } = { scheme, host, port };
  try {
    if (url.username) out.username = decodeURIComponent(url.username);
    if (url.password) out.password = decodeURIComponent(url.password);
  } catch {
    throw new SluiceError(
      "ROUTING",
      `Cannot use proxy "${redactProxyText(text)}": bad percent-encoding in credentials`,
    );
  }
  if ((out.username?.length ?? 0) > 255 || (out.password?.length ?? 0) > 255) {
    throw new SluiceError(
      "ROUTING",
      `Cannot use proxy "${redactProxyText(text)}": user or password longer than 255 bytes`,
    );
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

/** Redacts the password of a proxy URL that may not even parse (for error messages). */
export function redactProxyText(text: string): string {
  return text.replace(/^([a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, "$1:***@");
}
