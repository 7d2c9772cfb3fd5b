// tcpffee's TOML (ports, server groups with a portmap, drain/disabled, health checks, a stick
// table expiration, raft peers) to sluice: one service per port, whose backends are the
// groups' servers for that port (`portmap = "IP"`: the same port on that IP; a port table:
// that port's entry), balanced by consistent hashing of the client IP (balance = "hash"), so a
// client keeps its server as long as the server set does not change, and every sluice
// instance picks the same one. What sluice does not have yet is reported as "not supported
// yet"; raft and the stats socket have no counterpart.
import { checkHostPort, formatHostPort, isValidHost } from "../../net/host_port.ts";
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

const RAFT = "sluice has no raft: instances agree on a client's backend through consistent " +
  'hashing (balance = "hash") instead of replicating state';

const KNOWN = new Set([
  "bind_addr",
  "stats_bind_socket",
  "ports",
  "expiration",
  "groups",
  "peers",
  "raft_healthchecks_logs_bind_socket",
  "raft_stick_table_logs_bind_socket",
  "raft_healthchecks_proposals_bind_socket",
  "raft_stick_table_proposals_bind_socket",
]);

function seconds(v: unknown, dflt: number): number {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : dflt;
}

/** One tcpffee health check as a sluice health table; undefined when it is ignored. */
function healthOf(check: Json, where: string, skipped: Skipped[]): Json | undefined {
  const action = String(field(check, "fall_action") ?? "Draining");
  if (action === "Up") {
    skipped.push({ key: `${where}.fall_action`, why: '"Up" ignores the check: left out' });
    return undefined;
  }
  if (action === "Disabled") {
    skipped.push({
      key: `${where}.fall_action`,
      why: 'not supported yet: "Disabled" (a failing backend takes no new connections, as ' +
        'with "Draining", but keeps its open ones)',
    });
  }
  const interval = seconds(field(check, "interval"), 5);
  const h: Json = {
    interval: `${interval}s`,
    // tcpffee's default timeout is half the interval.
    timeout: `${seconds(field(check, "timeout"), interval / 2)}s`,
    fall: seconds(field(check, "fall"), 3),
    rise: seconds(field(check, "rise"), 5),
  };
  const http = Object.keys(check).some((k) => k.startsWith("http_"));
  if (http) {
    h.type = "http";
    h.path = String(field(check, "http_target") ?? "/");
    h.method = String(field(check, "http_method") ?? "GET");
    const status = field(check, "http_status");
    if (typeof status === "number") h.status = status;
    const body = field(check, "http_body");
    if (typeof body === "string") h.body = body;
    const headers = field(check, "http_headers");
    if (isTable(headers)) {
      h.headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)]));
    }
  } else h.type = "tcp";
  return h;
}

export function importTcpffee(data: unknown): Imported {
  if (!isTable(data)) throw new ImportError("expected a TOML table");
  const skipped: Skipped[] = [];
  const notes: string[] = [];
  for (const k of Object.keys(data)) {
    if (k.startsWith("raft_")) skipped.push({ key: k, why: RAFT });
    else if (!KNOWN.has(k)) skipped.push({ key: k, why: "not a tcpffee setting" });
  }
  if (Array.isArray(data.peers) && data.peers.length > 0) {
    skipped.push({ key: "peers", why: RAFT });
  }
  if (data.stats_bind_socket !== undefined) {
    skipped.push({
      key: "stats_bind_socket",
      why: "tcpffee's stats API has no counterpart; sluice's admin API, metrics and dashboard " +
        "are on admin.listener (default 127.0.0.1:9090)",
    });
  }
  if (data.expiration !== undefined) {
    skipped.push({
      key: "expiration",
      why: "not supported yet: a stick table; until then a client keeps its backend while " +
        "the backend set does not change (consistent hashing)",
    });
  }
  const bind = String(data.bind_addr ?? "0.0.0.0");
  if (!isBindable(bind)) throw new ImportError(`bind_addr "${bind}" is not an IP address`);
  const labels = new Labels();
  const label = labels.label(bind);
  const ports: number[] = [];
  for (const p of Array.isArray(data.ports) ? data.ports : []) {
    if (typeof p === "number" && Number.isInteger(p) && p >= 1 && p <= 65535) ports.push(p);
    else skipped.push({ key: "ports", why: `"${p}" is not a port` });
  }
  if (ports.length === 0) throw new ImportError("expected `ports`, a list of ports");

  const groups = isTable(data.groups) ? data.groups : {};
  const ids = Object.keys(groups).sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : 1));
  let health: Json | undefined;
  let healthFrom = "";
  const byPort = new Map<number, Json[]>(ports.map((p) => [p, []]));
  for (const id of ids) {
    const g = groups[id];
    const where = `groups.${id}`;
    if (!isTable(g)) {
      skipped.push({ key: where, why: "not a table" });
      continue;
    }
    for (const k of Object.keys(g)) {
      if (!["portmap", "drain", "disabled", "healthchecks"].includes(k)) {
        skipped.push({ key: `${where}.${k}`, why: "not a tcpffee setting" });
      }
    }
    if (g.disabled === true) {
      skipped.push({
        key: `${where}.disabled`,
        why: "not supported yet: disabled backends; the group's servers are left out " +
          "(a disabled group takes no connection)",
      });
      continue;
    }
    const checks = Array.isArray(g.healthchecks) ? g.healthchecks : [];
    checks.forEach((c, i) => {
      const cw = `${where}.healthchecks[${i}]`;
      if (!isTable(c)) return skipped.push({ key: cw, why: "not a table" });
      if (health !== undefined || i > 0) {
        skipped.push({
          key: cw,
          why: `not supported yet: several checks per pool; only ${healthFrom} is carried`,
        });
        return;
      }
      const h = healthOf(c, cw, skipped);
      if (h) {
        health = h;
        healthFrom = cw;
      }
    });
    const portmap = g.portmap;
    for (const port of ports) {
      let address: string | undefined;
      if (typeof portmap === "string") {
        const host = portmap.trim().replace(/^\[(.*)\]$/, "$1");
        address = isValidHost(host) ? formatHostPort(host, port) : undefined;
        if (address === undefined) {
          skipped.push({ key: `${where}.portmap`, why: `"${portmap}": expected an IP address` });
          break;
        }
      } else if (isTable(portmap)) {
        const entry = portmap[String(port)];
        if (entry === undefined) continue;
        const hp = typeof entry === "string" ? checkHostPort(entry) : "not a string";
        if (typeof hp === "string") {
          skipped.push({ key: `${where}.portmap.${port}`, why: `"${entry}": ${hp}` });
          continue;
        }
        address = formatHostPort(hp.host, hp.port);
      } else {
        skipped.push({ key: `${where}.portmap`, why: "missing: the group has no servers" });
        break;
      }
      const b: Json = { address };
      if (g.drain === true) b.drain = true;
      byPort.get(port)!.push(b);
    }
  }
  if (health !== undefined && ids.length > 1) {
    notes.push(
      `${healthFrom} checks every backend of every port's service (per-group checks are not ` +
        "supported yet)",
    );
  }
  const services: Json[] = ports.map((port) => {
    const s: Json = {
      name: `tcpffee-${port}`,
      listener: `${label}:${port}`,
      backends: byPort.get(port)!,
      balance: "hash",
      hash_key: "client_ip",
    };
    if (health !== undefined) s.health = health;
    return s;
  });
  if (ports.length > 1) {
    notes.push(
      "one service per port; a client's server is chosen per port by hashing its IP (group " +
        "stickiness across ports is not supported yet)",
    );
  }
  return { config: baseConfig(labels.allowed, ports), routing: { services }, skipped, notes };
}
