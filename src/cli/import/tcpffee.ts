// tcpffee's TOML (ports, server groups with a portmap, drain/disabled, health checks, a stick
// table expiration, raft peers) to sluice: one service per port, whose backends are the
// groups' servers for that port (`portmap = "IP"`: the same port on that IP; a port table:
// that port's entry), balanced by consistent hashing of the client IP (balance = "hash") with
// the group id as each backend's `group`, so a client lands on the same group on every port and
// every sluice instance picks the same one; `expiration` becomes a stick table, `disabled` a
// disabled backend, the checks a list with their fall_action. Checks apply to the whole
// service (sluice checks per pool, not per group); raft and the stats socket have no
// counterpart.
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

/** tcpffee's fall_action values and sluice's. */
const FALL_ACTIONS: Readonly<Record<string, string>> = {
  Draining: "drain",
  Disabled: "disable",
  Up: "ignore",
};

/** One tcpffee health check as a sluice health table. */
function healthOf(check: Json, where: string, skipped: Skipped[]): Json {
  const action = String(field(check, "fall_action") ?? "Draining");
  const fallAction = FALL_ACTIONS[action];
  if (fallAction === undefined) {
    skipped.push({
      key: `${where}.fall_action`,
      why: `"${action}": expected Draining, Disabled or Up; the check drains`,
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
  // Draining is sluice's default too.
  if (fallAction !== undefined && fallAction !== "drain") h.fall_action = fallAction;
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
  // Seconds; tcpffee always sticks: 10 (its example's value) when the key is left out.
  let expiration = 10;
  if (data.expiration !== undefined) {
    if (typeof data.expiration === "number" && data.expiration > 0) expiration = data.expiration;
    else {
      skipped.push({
        key: "expiration",
        why: `"${data.expiration}": expected seconds above 0; ${expiration}s is used`,
      });
    }
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
  const health: Json[] = [];
  const healthFrom: string[] = [];
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
    const checks = Array.isArray(g.healthchecks) ? g.healthchecks : [];
    checks.forEach((c, i) => {
      const cw = `${where}.healthchecks[${i}]`;
      if (!isTable(c)) return skipped.push({ key: cw, why: "not a table" });
      health.push(healthOf(c, cw, skipped));
      healthFrom.push(cw);
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
      // The group id: a client hashed to this group lands on it on every port.
      const b: Json = { address, group: id };
      if (g.drain === true) b.drain = true;
      if (g.disabled === true) b.disabled = true;
      byPort.get(port)!.push(b);
    }
  }
  if (health.length > 0 && ids.length > 1) {
    notes.push(
      `${healthFrom.join(", ")} check${health.length > 1 ? "" : "s"} every backend of every ` +
        "port's service (sluice checks per service, not per group)",
    );
  }
  const services: Json[] = ports.map((port) => {
    const s: Json = {
      name: `tcpffee-${port}`,
      listener: `${label}:${port}`,
      backends: byPort.get(port)!,
      balance: "hash",
      hash_key: "client_ip",
      stick: { expiration: `${expiration}s` },
    };
    if (health.length > 0) s.health = health.length === 1 ? health[0]! : health;
    return s;
  });
  if (ports.length > 1) {
    notes.push(
      "one service per port; a client's group is chosen by hashing its IP over the groups, " +
        "the same on every port (each backend's `group` is its tcpffee group id)",
    );
  }
  return { config: baseConfig(labels.allowed, ports), routing: { services }, skipped, notes };
}
