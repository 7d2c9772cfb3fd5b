// The one rule about exposing the admin API: a non-loopback admin.listener needs admin.token
// (the API can drain backends). The config loader applies it at load; startAdmin applies it
// again to whatever it is handed, with the same words.
import { SluiceError } from "../errors.ts";
import { DEFAULTS } from "../defaults.ts";
import { checkHostPort, type HostPort, isLoopbackHost } from "../net/host_port.ts";

/** "host:port" or "[v6]:port", port 0..65535 (0 = any free port); undefined when malformed. */
export function parseListenAddress(s: string): HostPort | undefined {
  const r = checkHostPort(s, { allowPortZero: true });
  return typeof r === "string" ? undefined : r;
}

/** What is wrong with exposing admin on `listener` (already parsed) with `token`, if anything. */
export function adminExposureProblem(
  listener: string,
  address: HostPort,
  token: string,
): string | undefined {
  if (isLoopbackHost(address.host) || token !== "") return undefined;
  return `${JSON.stringify(listener)} is not a loopback address, so admin.token must be set: ` +
    "the admin API can drain backends and must not be open to the network without a token";
}

/**
 * Refuses an admin API open to the network without a token. Throws SluiceError("CONFIG") in
 * the key-path form; returns the parsed address, or undefined for "" (admin off).
 */
export function checkAdminExposure(listener: string, token: string): HostPort | undefined {
  if (listener === "") return undefined;
  const a = parseListenAddress(listener);
  if (!a) {
    throw new SluiceError(
      "CONFIG",
      `admin.listener: expected "" (off) or HOST:PORT such as "${DEFAULTS.admin.listener}", got ${
        JSON.stringify(listener)
      }`,
    );
  }
  const problem = adminExposureProblem(listener, a, token);
  if (problem) throw new SluiceError("CONFIG", `admin.listener: ${problem}`);
  return a;
}
