// `sluice health`: probes a running sluice's admin GET /healthz and exits 0 (healthy) or 1, so a
// container HEALTHCHECK or a watchdog needs no curl. /healthz answers without the admin token.
import { parseListenAddress } from "../config/exposure.ts";
import { errorMessage } from "../errors.ts";
import { formatHostPort } from "../net/host_port.ts";

export interface HealthResult {
  readonly healthy: boolean;
  /** One line for the operator: what was probed and what came back. */
  readonly message: string;
}

/** How long one probe may take before it counts as unhealthy. */
const HEALTH_TIMEOUT_MS = 5000;

/**
 * The /healthz URL of an admin address: a URL ("http://10.0.0.5:9090", "https://...", with or
 * without "/healthz") or an admin.listener ("127.0.0.1:9090", "[::1]:9090"). A wildcard listener
 * ("0.0.0.0", "::") is probed on the loopback address of its family. Undefined when malformed.
 */
export function healthzUrl(admin: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(admin)) {
    let u: URL;
    try {
      u = new URL(admin);
    } catch {
      return undefined;
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
    if (!u.pathname.endsWith("/healthz")) u.pathname = u.pathname.replace(/\/*$/, "/healthz");
    return u.toString();
  }
  const a = parseListenAddress(admin);
  if (!a) return undefined;
  const host = a.host === "0.0.0.0" ? "127.0.0.1" : a.host === "::" ? "::1" : a.host;
  return `http://${formatHostPort(host, a.port)}/healthz`;
}

/** GET url once; healthy only on a 200 within timeoutMs. */
export async function probeHealth(
  url: string,
  timeoutMs = HEALTH_TIMEOUT_MS,
): Promise<HealthResult> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
    const body = (await r.text()).trim().split("\n")[0]?.slice(0, 200) ?? "";
    if (r.status === 200) return { healthy: true, message: `healthy: ${url}: 200 ${body}`.trim() };
    return { healthy: false, message: `unhealthy: ${url}: HTTP ${r.status} ${body}`.trim() };
  } catch (e) {
    const why = e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError")
      ? `no answer within ${timeoutMs} ms`
      : errorMessage(e);
    return { healthy: false, message: `unhealthy: ${url}: ${why}` };
  }
}
