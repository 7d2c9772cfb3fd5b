// DNS rebinding protection of a tokenless admin API: a browser that reaches 127.0.0.1 through
// a rebound name still sends that name in Host, so only names that cannot be rebound pass.
import { isIP } from "node:net";

/**
 * The Host header check of a tokenless admin API: "localhost" (and *.localhost), any IP
 * literal, or the configured listen host; a request without Host (HTTP/1.0) is not a browser's.
 */
export function hostAllowed(header: string | undefined, listenHost?: string): boolean {
  if (header === undefined || header === "") return true;
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::\d*)?$/.exec(header.trim());
  if (!m) return false;
  const host = (m[1] ?? m[2] ?? "").toLowerCase().replace(/\.$/, "");
  if (m[1] !== undefined) return isIP(host) === 6;
  if (isIP(host) !== 0) return true;
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  return listenHost !== undefined && host === listenHost.toLowerCase();
}
