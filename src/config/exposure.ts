// The one rule about exposing the admin API: a non-loopback admin.listener needs admin.token.
// Kept free of hono and the app so the config loader can import it cheaply.
import { isIP } from "node:net";
import { SluiceError } from "../errors.ts";

/** "host:port" or "[v6]:port", port 0..65535 (0 = any free port); undefined when malformed. */
export function parseAdminListener(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const host = (m[1] ?? m[2]) as string;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host, port };
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped ::ffff:127.x) and "localhost". */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

/**
 * Refuses an admin API open to the network without a token: it can drain backends.
 * Throws SluiceError("CONFIG"). An empty listener means admin is off: nothing to check.
 */
export function checkAdminExposure(listener: string, token: string): void {
  if (listener === "") return;
  const a = parseAdminListener(listener);
  if (!a) {
    throw new SluiceError(
      "CONFIG",
      `admin.listener: expected "" (off) or HOST:PORT such as "127.0.0.1:9090", got "${listener}"`,
    );
  }
  if (!isLoopbackHost(a.host) && token === "") {
    throw new SluiceError(
      "CONFIG",
      `admin.listener: "${listener}" is not a loopback address, so admin.token must be set: ` +
        "the admin API can drain backends and must not be open to the network without a token",
    );
  }
}
