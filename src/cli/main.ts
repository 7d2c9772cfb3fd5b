// `sluice` command dispatch. Returns the exit code: 0 ok, 1 runtime failure, 2 usage or config.
import process from "node:process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { errorMessage, SluiceError } from "../errors.ts";
import { rootLogger } from "../log.ts";
import type { Runtime } from "../runtime/types.ts";
import type { Config } from "../config/types.ts";
import { loadConfig } from "../config/load.ts";
import { formatFromPath, parseRoutingDocument } from "../routing/document.ts";
import { buildTable } from "../routing/table.ts";
import { tableConfigFrom } from "../config/table_config.ts";
import type { ProviderRoutes, RouteProblem } from "../routing/types.ts";
import { formatPlans } from "../admin/peek.ts";
import { applyLogConfig, runUntilSignalled } from "./app.ts";
import { VERSION } from "../version.ts";
import { startWorkers, workerIndex } from "./workers.ts";
import { type CliArgs, parseCli } from "./args.ts";
import { forwardServices, parseForward } from "./forward.ts";
import { writeBootstrap } from "./bootstrap.ts";
import { USAGE } from "./help.ts";
import { chooseConfig, type ConfigChoice } from "./config_path.ts";
import { type ImportKind, runImport } from "./import/index.ts";
import { healthzUrl, probeHealth } from "./health.ts";

function out(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : text + "\n");
}
function err(text: string): void {
  process.stderr.write(`sluice: ${text}\n`);
}

function overridesOf(a: CliArgs): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (a.logLevel) o["log.level"] = a.logLevel;
  if (a.logFormat) o["log.format"] = a.logFormat;
  return o;
}

function load(a: CliArgs): Promise<Config> {
  return loadConfig({
    ...(a.config !== undefined ? { path: a.config } : {}),
    env: process.env,
    overrides: overridesOf(a),
  });
}

function problemLine(p: RouteProblem): string {
  return `${p.source}: service "${p.service}": ${p.field}: ${p.reason}`;
}

async function check(a: CliArgs, choice: ConfigChoice): Promise<number> {
  const config = await load(a);
  const path = a.routing ?? config.routing.file?.path;
  const routes: ProviderRoutes[] = [];
  const problems: RouteProblem[] = [];
  const notices: string[] = [...config.notices ?? []];
  if (path) {
    const format = formatFromPath(path);
    if (!format) {
      throw new SluiceError(
        "CONFIG",
        `Cannot check "${path}": unknown extension (expected .toml, .yaml, .yml or .json)`,
      );
    }
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (e) {
      throw new SluiceError("CONFIG", `Cannot read routing file "${path}": ${errorMessage(e)}`);
    }
    let doc;
    try {
      doc = parseRoutingDocument(text, format, path);
    } catch (e) {
      throw new SluiceError("CONFIG", errorMessage(e), { cause: e });
    }
    problems.push(...doc.problems);
    notices.push(...doc.notices ?? []);
    routes.push({ provider: "file", services: doc.services });
  }
  const built = buildTable(routes, tableConfigFrom(config));
  problems.push(...built.problems);
  out(`config: ${config.source ?? "(defaults)"} (${choice.how})`);
  out(`routing: ${path ?? "(no routing file)"}`);
  for (const n of notices) out(`notice: ${n}`);
  for (const p of problems) out(`problem: ${problemLine(p)}`);
  out("");
  out(formatPlans(built.table.listeners.values()));
  out(problems.length ? `${problems.length} problem(s)` : "ok");
  return problems.length ? 1 : 0;
}

async function run(a: CliArgs, rt: Runtime, choice: ConfigChoice): Promise<number> {
  const forwards = forwardServices(a.forwards.map(parseForward));
  const config = await load(a);
  for (const f of forwards) {
    for (const l of f.listeners) {
      if (!(l.label in config.listeners.allowed)) {
        throw new SluiceError(
          "CONFIG",
          `Cannot forward "${l.label}:${l.port}": label "${l.label}" is not in listeners.allowed (${
            Object.keys(config.listeners.allowed).join(", ")
          })`,
        );
      }
    }
  }
  applyLogConfig(config);
  // runtime.workers > 1: every process binds with SO_REUSEPORT; the first also runs admin/peek.
  const reusePort = config.runtime.workers > 1;
  const primary = workerIndex() === 0;
  if (primary) {
    rootLogger.info("config", { path: choice.path ?? "(none)", how: choice.how });
    for (const n of config.notices ?? []) rootLogger.info("config", { note: n });
  }
  // Written once signals are handled, so a supervisor that reads it can stop sluice cleanly.
  const pidFile = primary ? config.runtime.pidFile : "";
  const pool = primary && reusePort
    ? startWorkers({ rt, count: config.runtime.workers - 1, log: rootLogger.child("workers") })
    : undefined;
  const code = await runUntilSignalled({
    rt,
    config,
    reloadConfig: () => load(a),
    forwards,
    reusePort,
    control: primary,
    ...(pidFile !== "" ? { ready: () => void writePidFile(pidFile) } : {}),
    ...(pool ? { pool } : {}),
    workerLink: !primary,
  });
  await pool?.stop();
  if (pidFile !== "") await removePidFile(pidFile);
  return code;
}

/** runtime.pid_file: written at start (tcpffee's TCPFFEE_PID_PATH), removed at exit. */
async function writePidFile(path: string): Promise<void> {
  try {
    await writeFile(path, `${process.pid}\n`);
  } catch (e) {
    rootLogger.error("cannot write runtime.pid_file", { path, error: errorMessage(e) });
  }
}

async function removePidFile(path: string): Promise<void> {
  try {
    // Only our own: another instance may have taken the file over since.
    if ((await readFile(path, "utf8")).trim() === String(process.pid)) await rm(path);
  } catch {
    // Already gone.
  }
}

/** `sluice health`: 0 when the admin /healthz answers 200, else 1 (a bad config too). */
async function health(a: CliArgs): Promise<number> {
  let admin = a.admin;
  if (admin === undefined) {
    try {
      admin = (await load(a)).admin.listener;
    } catch (e) {
      err(`unhealthy: cannot read the config: ${errorMessage(e)}`);
      return 1;
    }
    if (admin === "") {
      err("unhealthy: the admin API is off (admin.listener is empty); give --admin URL");
      return 1;
    }
  }
  const url = healthzUrl(admin);
  if (!url) {
    throw new SluiceError(
      "CONFIG",
      `Cannot probe "${admin}": expected http(s)://HOST:PORT[/healthz] or HOST:PORT`,
    );
  }
  const r = await probeHealth(url);
  if (r.healthy) out(r.message);
  else err(r.message);
  return r.healthy ? 0 : 1;
}

export async function main(argv: readonly string[], rt: Runtime): Promise<number> {
  let a: CliArgs;
  let choice: ConfigChoice | undefined;
  /** -c, $SLUICE_CONFIG or the first default path that exists; chosen once (reloads too). */
  const withConfigChoice = async (args: CliArgs): Promise<CliArgs> => {
    choice = await chooseConfig(args.config, process.env);
    const { config: _, ...rest } = args;
    return choice.path === undefined ? rest : { ...rest, config: choice.path };
  };
  try {
    a = parseCli(argv);
    switch (a.command) {
      case "help":
        out(USAGE[a.topic] ?? USAGE.main!);
        return 0;
      case "version":
        out(`sluice ${VERSION} (${rt.name} ${rt.version})`);
        return 0;
      case "check":
        a = await withConfigChoice(a);
        return await check(a, choice!);
      case "bootstrap":
        await writeBootstrap(a.out!, a.forwards.map(parseForward));
        out(`wrote ${a.out}/config.toml and ${a.out}/routing.toml`);
        return 0;
      case "import": {
        const r = await runImport(a.importKind as ImportKind, a.importFile!, a.out!);
        for (const line of r.lines) out(line);
        return r.code;
      }
      case "health":
        return await health(await withConfigChoice(a));
      case "run":
        a = await withConfigChoice(a);
        return await run(a, rt, choice!);
    }
  } catch (e) {
    if (e instanceof SluiceError && e.code === "CONFIG") {
      err(errorMessage(e));
      return 2;
    }
    rootLogger.error("fatal", { error: errorMessage(e) });
    return 1;
  }
}
