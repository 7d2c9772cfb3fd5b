// The peek endpoint: a TCP port that writes the routing table in dill's format (with state
// and health added) to whoever connects, then closes. Secrets are redacted by construction:
// only formatProxyUrl() output is shown.
import type { Listener, Runtime } from "../runtime/types.ts";
import type { ListenerPlan } from "../routing/types.ts";
import { formatProxyUrl, formatRoute } from "../routing/proxy_url.ts";
import type { Logger } from "../log.ts";
import type { ListenerView } from "../proxy/types.ts";
import { formatHostPort, type HostPort } from "../net/host_port.ts";

function backendLine(address: string, via: string | undefined, notes: string[]): string {
  return `  ├──➤ ${formatRoute(via, address)}${notes.length ? ` [${notes.join(", ")}]` : ""}`;
}

/** The live table: one block per listener, as dill prints it, with state and health. */
export function formatPeek(listeners: readonly ListenerView[]): string {
  if (listeners.length === 0) return "no listeners\n";
  const out: string[] = [];
  for (const l of listeners) {
    const state = l.state === "bind_failed" ? `bind_failed: ${l.error ?? "unknown"}` : l.state;
    out.push(`${l.key} [${state}] ${l.label} (${l.services.join(", ")})`);
    out.push(`  ├ ${l.balance}`);
    if (l.sni) {
      const t = l.sni;
      out.push(
        `  ├ sni (timeout ${t.timeoutMs}ms, unmatched ${t.unmatched}, timeouts ${t.timeouts})`,
      );
      for (const r of t.routes) {
        const names = r.names.length ? r.names.join(" ") : "default";
        out.push(`  ├─ ${names} ➤ ${r.service} (${r.active} active, ${r.total} total)`);
      }
    }
    for (const b of l.backends) {
      const notes: string[] = [];
      if (b.health !== "unknown") notes.push(b.health);
      if (b.ejected) notes.push("ejected");
      if (b.drain) notes.push("drain");
      if (b.disabled) notes.push("disabled");
      if (b.weight !== 1) notes.push(`weight ${b.weight}`);
      if (b.tier !== 0) notes.push(`tier ${b.tier}`);
      if (b.counters.active) notes.push(`${b.counters.active} active`);
      if (l.sni) notes.push(`service ${b.service}`);
      out.push(backendLine(b.address, b.via, notes));
    }
  }
  return out.join("\n") + "\n";
}

/** The resolved table before anything runs (for `sluice check`). */
export function formatPlans(plans: Iterable<ListenerPlan>): string {
  const out: string[] = [];
  for (const p of plans) {
    out.push(`${p.key} ${p.label} (${p.services.join(", ")})`);
    out.push(`  ├ ${p.settings.balance}`);
    for (const r of p.sni?.routes ?? []) {
      out.push(`  ├─ ${r.names.length ? r.names.join(" ") : "default"} ➤ ${r.service}`);
    }
    for (const b of p.backends) {
      const notes: string[] = [];
      if (b.drain) notes.push("drain");
      if (b.disabled) notes.push("disabled");
      if (b.weight !== 1) notes.push(`weight ${b.weight}`);
      if (b.tier !== 0) notes.push(`tier ${b.tier}`);
      out.push(backendLine(b.address, b.proxy ? formatProxyUrl(b.proxy) : undefined, notes));
    }
  }
  return out.length ? out.join("\n") + "\n" : "no listeners\n";
}

export interface PeekOptions {
  rt: Runtime;
  /** Where to listen, parsed at load (config.peek.address); port 0 = any free port, logged. */
  address: HostPort;
  view: () => readonly ListenerView[];
  /** Awaited before view() (the worker group's refresh). */
  refresh?: () => Promise<void>;
  log: Logger;
}

/** Starts the peek listener; throws a SluiceError when it cannot bind. */
export function startPeek(o: PeekOptions): Listener {
  const { host, port } = o.address;
  const encoder = new TextEncoder();
  const l = o.rt.listen({ host, port }, (c) => {
    void (async () => {
      try {
        await o.refresh?.();
        await c.write(encoder.encode(formatPeek(o.view())));
        await c.closeWrite();
      } catch { /* the reader went away: nothing to do */ }
      c.close();
    })();
  });
  o.log.info("peek listening", { address: formatHostPort(l.addr.host, l.addr.port) });
  return l;
}
