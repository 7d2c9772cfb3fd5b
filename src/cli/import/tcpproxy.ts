// tcpproxy's YAML (a list of apps, each with a name, the ports it listens on and its targets)
// to sluice: one service per app, listening on every port on all interfaces as tcpproxy does,
// balancing at random (tcpproxy picks a random first target) and trying every target on a
// failed connect (connect_attempts 0, sluice's default).
import { checkHostPort } from "../../net/host_port.ts";
import {
  baseConfig,
  field,
  type Imported,
  ImportError,
  isTable,
  type Json,
  Labels,
  type Skipped,
} from "./common.ts";

export function importTcpproxy(data: unknown): Imported {
  if (!isTable(data) && !Array.isArray(data)) {
    throw new ImportError("expected a YAML table with an `apps` list (or a list of apps)");
  }
  const apps = Array.isArray(data) ? data : field(data, "apps");
  if (!Array.isArray(apps)) throw new ImportError("expected an `apps` list");
  const skipped: Skipped[] = [];
  const notes: string[] = [];
  if (isTable(data)) {
    for (const k of Object.keys(data)) {
      if (k.toLowerCase() !== "apps") skipped.push({ key: k, why: "not a tcpproxy setting" });
    }
  }
  const labels = new Labels();
  const any = labels.label("0.0.0.0");
  const ports: number[] = [];
  const services: Json[] = [];
  const names = new Set<string>();
  apps.forEach((app, i) => {
    const where = `apps[${i}]`;
    if (!isTable(app)) {
      skipped.push({ key: where, why: "not a table" });
      return;
    }
    let name = String(field(app, "name") ?? `app-${i + 1}`);
    while (names.has(name)) name += `-${i + 1}`;
    names.add(name);
    const appPorts: number[] = [];
    const rawPorts = field(app, "ports");
    for (const [j, p] of (Array.isArray(rawPorts) ? rawPorts : []).entries()) {
      const n = typeof p === "number" ? p : Number(p);
      if (Number.isInteger(n) && n >= 1 && n <= 65535) appPorts.push(n);
      else skipped.push({ key: `${where}.ports[${j}]`, why: `"${p}" is not a port` });
    }
    const targets: string[] = [];
    const rawTargets = field(app, "targets");
    for (const [j, t] of (Array.isArray(rawTargets) ? rawTargets : []).entries()) {
      const hp = typeof t === "string" ? checkHostPort(t) : "not a string";
      if (typeof hp === "string") {
        skipped.push({ key: `${where}.targets[${j}]`, why: `"${t}": ${hp}` });
      } else if (targets.includes(t as string)) {
        skipped.push({
          key: `${where}.targets[${j}]`,
          why: `"${t}" repeats an earlier target; sluice lists each backend once (use weight)`,
        });
      } else targets.push(t as string);
    }
    for (const k of Object.keys(app)) {
      if (!["name", "ports", "targets"].includes(k.toLowerCase())) {
        skipped.push({ key: `${where}.${k}`, why: "not a tcpproxy setting" });
      }
    }
    if (appPorts.length === 0) {
      skipped.push({ key: where, why: `app "${name}" has no port to listen on` });
      return;
    }
    ports.push(...appPorts);
    services.push({
      name,
      listeners: appPorts.map((p) => `${any}:${p}`),
      backends: targets,
      balance: "random",
    });
  });
  notes.push(
    "every app listens on all interfaces (label any), as tcpproxy does; every target is tried " +
      "on a failed connect (connect_attempts 0) within connect_budget",
  );
  return { config: baseConfig(labels.allowed, ports), routing: { services }, skipped, notes };
}
