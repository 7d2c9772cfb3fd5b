// The field parsers of a service (routing/service.ts): hash_key, health tables with their
// defaults, listener references, port-less backend addresses and CIDRs.
import { z } from "zod";
import { parseDuration } from "../text/duration.ts";
import { show } from "../text/issues.ts";
import { isValidHost, parsePort } from "../net/host_port.ts";
import { isIP } from "node:net";
import { checkCidr } from "../net/cidr.ts";
import { healthShape } from "./schema.ts";
import type { HashKey, HealthSpec, ListenerRef } from "./types.ts";
import { DEFAULTS } from "../defaults.ts";

export const healthSchema = z.object(healthShape);

/** Health defaults for keys a `health` table leaves out. */
const HEALTH_DEFAULTS: Omit<HealthSpec, "type"> = {
  intervalMs: DEFAULTS.health.intervalMs,
  timeoutMs: DEFAULTS.health.timeoutMs,
  rise: DEFAULTS.health.rise,
  fall: DEFAULTS.health.fall,
  path: DEFAULTS.health.path,
  method: DEFAULTS.health.method,
  status: DEFAULTS.health.status,
  headers: {},
  body: DEFAULTS.health.body,
};

/**
 * Parses "client_ip" | "first_bytes:START-END" | "client_ip+first_bytes:START-END" (END
 * exclusive, START < END).
 */
export function parseHashKey(text: string): HashKey | string {
  if (text === "client_ip") return { kind: "client_ip" };
  const m = /^(client_ip\+)?first_bytes:(\d+)-(\d+)$/.exec(text);
  if (!m) {
    return `expected "client_ip", "first_bytes:START-END" or ` +
      `"client_ip+first_bytes:START-END", got ${show(text)}`;
  }
  const start = Number(m[2]);
  const end = Number(m[3]);
  if (!(start < end)) return `expected START < END in ${show(text)} (END is exclusive)`;
  if (end > 65536) return `expected END at most 65536 in ${show(text)}`;
  return { kind: m[1] ? "client_ip+first_bytes" : "first_bytes", start, end };
}

/**
 * A backend address without a port: an IP literal ("10.0.0.5", "[2001:db8::5]", "2001:db8::5")
 * or a dotted host name ("db.internal"). A bare word ("nope") stays an error: more likely a typo.
 */
export function portlessHost(address: string): string | undefined {
  const a = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  if (isIP(a) !== 0) return a;
  if (a.includes(".") && !a.includes(":") && isValidHost(a)) return a.replace(/\.$/, "");
  return undefined;
}

/** Normalises "10.0.0.0/8" (a bare IP means one host); a string is the reason it is invalid. */
export function parseCidr(text: string): string | { cidr: string } {
  return checkCidr(text);
}

/** Resolves a validated raw health table, defaults applied (durations already validated). */
export function healthFromRaw(raw: z.infer<typeof healthSchema>, path: string): HealthSpec {
  const out: HealthSpec = {
    type: raw.type ?? "tcp",
    intervalMs: raw.interval === undefined
      ? HEALTH_DEFAULTS.intervalMs
      : parseDuration(raw.interval, `${path}.interval`),
    // Unset: half the interval (tcpffee's default), so a check ends before the next one.
    timeoutMs: raw.timeout === undefined
      ? (raw.interval === undefined
        ? HEALTH_DEFAULTS.timeoutMs
        : Math.max(1, Math.floor(parseDuration(raw.interval, `${path}.interval`) / 2)))
      : parseDuration(raw.timeout, `${path}.timeout`),
    rise: raw.rise ?? HEALTH_DEFAULTS.rise,
    fall: raw.fall ?? HEALTH_DEFAULTS.fall,
    path: raw.path ?? HEALTH_DEFAULTS.path,
    method: raw.method ?? HEALTH_DEFAULTS.method,
    status: raw.status ?? HEALTH_DEFAULTS.status,
    headers: raw.headers ?? HEALTH_DEFAULTS.headers,
    body: raw.body ?? HEALTH_DEFAULTS.body,
  };
  return raw.fall_action === undefined ? out : { ...out, fallAction: raw.fall_action };
}

export function parseListenerRef(text: string): ListenerRef | string {
  const colon = text.lastIndexOf(":");
  const label = text.slice(0, colon);
  const port = parsePort(text.slice(colon + 1));
  if (colon <= 0 || port === undefined || /\s/.test(label)) {
    return `expected "LABEL:PORT" with a port from 1 to 65535, e.g. "any:5432", got ${show(text)}`;
  }
  return { label, port };
}
