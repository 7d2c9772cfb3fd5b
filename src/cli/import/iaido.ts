// iaido's YAML (frontends, each a bindAddress and a backendPool of tiers of targets; what
// `iaido --bootstrap` writes) to sluice: one service per frontend, its tiers as backend tiers
// (fill and spill: sluice uses the lowest tier with a healthy backend), balancing by least
// connections as iaido's pool does, idleDuration as idle_timeout, gracePeriod as
// listeners.drain_timeout. Names keep being re-resolved (every A/AAAA record is a backend).
import { checkHostPort, formatHostPort } from "../../net/host_port.ts";
import {
  baseConfig,
  field,
  type Imported,
  ImportError,
  isBindable,
  isTable,
  type Json,
  Labels,
  type Skipped,
} from "./common.ts";

/** A Go duration as YAML holds it: "30s", or a number of nanoseconds. */
function duration(v: unknown): string | undefined {
  if (typeof v === "string" && v.trim() !== "") return v.trim();
  if (typeof v === "number" && Number.isFinite(v)) return `${Math.round(v / 1e6)}ms`;
  return undefined;
}

function isZero(v: unknown): boolean {
  return v === undefined || v === null || v === 0 || v === "0" || v === "0s" || v === "";
}

/** A target: {hosts: [...], port}, {host, port} or "[tcp:]host:port". */
function targetAddresses(t: unknown, where: string, skipped: Skipped[]): string[] {
  if (typeof t === "string") {
    const text = t.replace(/^tcp:/i, "");
    if (/^udp:/i.test(t)) {
      skipped.push({ key: where, why: "UDP targets are not supported (sluice proxies TCP)" });
      return [];
    }
    const hp = checkHostPort(text);
    if (typeof hp === "string") {
      skipped.push({ key: where, why: `"${t}": ${hp}` });
      return [];
    }
    return [formatHostPort(hp.host, hp.port)];
  }
  if (!isTable(t)) {
    skipped.push({ key: where, why: "not a target" });
    return [];
  }
  const proto = field(t, "proto");
  if (typeof proto === "string" && proto.toUpperCase() === "UDP") {
    skipped.push({ key: where, why: "UDP targets are not supported (sluice proxies TCP)" });
    return [];
  }
  const port = Number(field(t, "port"));
  const hostsRaw = field(t, "hosts");
  const hosts = Array.isArray(hostsRaw)
    ? hostsRaw.map(String)
    : field(t, "host") !== undefined
    ? [String(field(t, "host"))]
    : [];
  if (!Number.isInteger(port) || port < 1 || port > 65535 || hosts.length === 0) {
    skipped.push({ key: where, why: "a target needs hosts and a port from 1 to 65535" });
    return [];
  }
  return hosts.map((h) => formatHostPort(h.replace(/^\[(.*)\]$/, "$1"), port));
}

export function importIaido(data: unknown): Imported {
  if (!isTable(data)) throw new ImportError("expected a YAML table with a `frontends` list");
  const frontends = field(data, "frontends");
  if (!Array.isArray(frontends)) throw new ImportError("expected a `frontends` list");
  const skipped: Skipped[] = [];
  const notes: string[] = [];
  const diag = field(data, "diagAddr");
  if (diag !== undefined && diag !== "") {
    skipped.push({
      key: "diagAddr",
      why: "iaido's diagnostics (Go pprof, expvar) have no sluice equivalent; sluice's admin " +
        "API and metrics are on admin.listener (default 127.0.0.1:9090)",
    });
  }
  for (const k of Object.keys(data)) {
    if (!["diagaddr", "frontends", "graceperiod"].includes(k.toLowerCase())) {
      skipped.push({ key: k, why: "not an iaido setting" });
    }
  }
  const labels = new Labels();
  const ports: number[] = [];
  const services: Json[] = [];
  const names = new Set<string>();
  frontends.forEach((fe, i) => {
    const where = `frontends[${i}]`;
    if (!isTable(fe)) {
      skipped.push({ key: where, why: "not a table" });
      return;
    }
    const bind = String(field(fe, "bindAddress") ?? "");
    const hp = bind.startsWith(":")
      ? { host: "", port: Number(bind.slice(1)) }
      : checkHostPort(bind.replace(/^tcp:/i, ""));
    if (typeof hp === "string" || !Number.isInteger(hp.port) || hp.port < 1) {
      skipped.push({
        key: `${where}.bindAddress`,
        why: `"${bind}": sluice needs a fixed port to listen on (${
          typeof hp === "string" ? hp : "port 0 picks a random one"
        }); frontend left out`,
      });
      return;
    }
    if (!isBindable(hp.host)) {
      skipped.push({
        key: `${where}.bindAddress`,
        why: `"${bind}": sluice binds IP addresses (listeners.allowed), not host names; ` +
          "frontend left out",
      });
      return;
    }
    const label = labels.label(hp.host);
    let name = `iaido-${hp.port}`;
    while (names.has(name)) name += `-${i + 1}`;
    names.add(name);
    const pool = field(fe, "backendPool");
    const tiers = isTable(pool) ? field(pool, "tiers") : undefined;
    const backends: Json[] = [];
    (Array.isArray(tiers) ? tiers : []).forEach((tier, t) => {
      const tw = `${where}.backendPool.tiers[${t}]`;
      if (!isTable(tier)) return skipped.push({ key: tw, why: "not a table" });
      const dft = field(tier, "dialFailureTimeout");
      // iaido's default (what its bootstrap writes) is sluice's first ejection time too.
      if (!isZero(dft) && dft !== "1s" && dft !== 1e9) {
        skipped.push({
          key: `${tw}.dialFailureTimeout`,
          why: `"${dft}": sluice takes a backend out after 3 failed connects for 1 s, doubling ` +
            "up to 30 s (passive ejection); the time is not configurable",
        });
      }
      const max = field(tier, "maxBackendConnections");
      if (!isZero(max)) {
        skipped.push({
          key: `${tw}.maxBackendConnections`,
          why: "not supported: sluice limits connections per listener (max_connections), " +
            "not per backend",
        });
      }
      const fpa = field(tier, "forcePromotionAfter");
      if (!isZero(fpa)) {
        skipped.push({
          key: `${tw}.forcePromotionAfter`,
          why: "not supported: sluice sends new connections back to a recovered tier and " +
            "never cuts open ones",
        });
      }
      const targets = field(tier, "targets");
      (Array.isArray(targets) ? targets : []).forEach((tg, k) => {
        for (const address of targetAddresses(tg, `${tw}.targets[${k}]`, skipped)) {
          if (backends.some((b) => b.address === address)) continue;
          backends.push(t === 0 ? { address } : { address, tier: t });
        }
      });
    });
    const service: Json = {
      name,
      listener: `${label}:${hp.port}`,
      backends,
      balance: "least_conn",
    };
    const idle = duration(field(fe, "idleDuration"));
    if (idle !== undefined) service.idle_timeout = idle;
    ports.push(hp.port);
    services.push(service);
  });
  const config = baseConfig(labels.allowed, ports);
  const grace = duration(field(data, "gracePeriod"));
  if (grace !== undefined && !isZero(field(data, "gracePeriod"))) {
    (config.listeners as Json).drain_timeout = grace;
  }
  notes.push(
    "tiers fill and spill as in iaido (the lowest tier with a healthy backend takes new " +
      "connections); backends are balanced by least connections",
  );
  return { config, routing: { services }, skipped, notes };
}
