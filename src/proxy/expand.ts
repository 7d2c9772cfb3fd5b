// DNS expansion of a listener's backends: a backend whose host is a name becomes one backend per
// A/AAAA address (each with the name's weight, tier and drain), so balancing, health checks and
// passive ejection work per address, as HAProxy's server-template and iaido do. Until a name
// has resolved once, it stays a single backend dialed by name, so a new route works at once.
// socks5h backends are left alone: their proxy resolves the name.
import type { BackendPlan } from "../routing/types.ts";
import { formatHostPort } from "../net/host_port.ts";
import { isIpLiteral } from "./resolver.ts";

/** True when sluice, not a proxy, must resolve this backend's host. */
export function needsResolution(b: BackendPlan): boolean {
  return !isIpLiteral(b.host) && b.proxy?.scheme !== "socks5h";
}

/** One plan per known address of each named backend; IP backends pass through unchanged. */
export function expandBackends(
  plans: readonly BackendPlan[],
  cached: (host: string) => readonly string[] | undefined,
): BackendPlan[] {
  const out: BackendPlan[] = [];
  for (const b of plans) {
    const addrs = needsResolution(b) ? cached(b.host) : undefined;
    if (!addrs || addrs.length === 0) {
      out.push(b);
      continue;
    }
    for (const ip of addrs) {
      // The key keeps the name, so the admin API and metrics show where the address came from.
      const address = formatHostPort(ip, b.port);
      out.push({ ...b, key: `${b.key}=${address}`, address, host: ip });
    }
  }
  return out;
}
