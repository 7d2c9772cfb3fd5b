// Command-line parsing with node:util's parseArgs, plus dill's single-dash `-config`.
import { parseArgs } from "node:util";
import { SluiceError } from "../errors.ts";

export type Command = "run" | "check" | "bootstrap" | "import" | "health" | "version" | "help";

export interface CliArgs {
  readonly command: Command;
  /** For "help": which command's usage */
  readonly topic: string;
  readonly config?: string;
  readonly routing?: string;
  readonly forwards: readonly string[];
  readonly out?: string;
  readonly logLevel?: string;
  readonly logFormat?: string;
  /** For "health": the admin URL or HOST:PORT to probe */
  readonly admin?: string;
  /** For "import": the source format and file */
  readonly importKind?: string;
  readonly importFile?: string;
}

const COMMANDS = new Set(["run", "check", "bootstrap", "import", "health", "version", "help"]);

/** dill spells it `-config PATH`; node's parser would read that as -c -o -n ... */
function normaliseDillFlags(argv: readonly string[]): string[] {
  return argv.map((a) =>
    a === "-config" ? "--config" : a.startsWith("-config=") ? "--" + a.slice(1) : a
  );
}

/** Throws a CONFIG SluiceError (exit 2) for a usage error. */
export function parseCli(argv: readonly string[]): CliArgs {
  const args = normaliseDillFlags(argv);
  let command: Command = "run";
  if (args[0] !== undefined && !args[0].startsWith("-")) {
    if (!COMMANDS.has(args[0])) {
      throw new SluiceError(
        "CONFIG",
        `Cannot run "${
          args[0]
        }": unknown command (expected run, check, bootstrap, import, health or version)`,
      );
    }
    command = args.shift() as Command;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: command === "help" || command === "import",
      strict: true,
      options: {
        config: { type: "string", short: "c" },
        routing: { type: "string" },
        forward: { type: "string", multiple: true },
        out: { type: "string", short: "o" },
        "log-level": { type: "string" },
        "log-format": { type: "string" },
        admin: { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (err) {
    throw new SluiceError("CONFIG", `Cannot parse the command line: ${(err as Error).message}`);
  }
  const v = parsed.values;
  if (command === "help") return { command, topic: parsed.positionals[0] ?? "main", forwards: [] };
  if (v.help) {
    return {
      command: "help",
      topic: command === "run" && argv.length <= 1 ? "main" : command,
      forwards: [],
    };
  }
  if (v.version) return { command: "version", topic: "", forwards: [] };
  const allowed: Record<Command, string[]> = {
    run: ["config", "forward", "log-level", "log-format"],
    check: ["config", "routing", "log-level", "log-format"],
    bootstrap: ["forward", "out"],
    import: ["out"],
    health: ["config", "admin"],
    version: [],
    help: [],
  };
  for (const key of Object.keys(v)) {
    if (v[key as keyof typeof v] !== undefined && !allowed[command].includes(key)) {
      throw new SluiceError(
        "CONFIG",
        `Cannot use --${key} with "sluice ${command}" (see sluice ${command} --help)`,
      );
    }
  }
  for (
    const [flag, value, ok] of [
      ["--log-level", v["log-level"], ["debug", "info", "warn", "error"]],
      ["--log-format", v["log-format"], ["text", "json"]],
    ] as const
  ) {
    if (value !== undefined && !(ok as readonly string[]).includes(value)) {
      throw new SluiceError(
        "CONFIG",
        `Cannot use ${flag} "${value}": expected one of ${ok.join(", ")}`,
      );
    }
  }
  if (command === "bootstrap" && (!v.out || !v.forward?.length)) {
    throw new SluiceError("CONFIG", `Cannot bootstrap: --forward and -o DIR are both required`);
  }
  if (command === "import") {
    const [kind, file, ...extra] = parsed.positionals;
    if (!kind || !file || extra.length > 0 || !v.out) {
      throw new SluiceError(
        "CONFIG",
        "Cannot import: expected sluice import iaido|tcpffee|tcpproxy FILE -o DIR",
      );
    }
    if (!["iaido", "tcpffee", "tcpproxy"].includes(kind)) {
      throw new SluiceError(
        "CONFIG",
        `Cannot import "${kind}": unknown format (expected iaido, tcpffee or tcpproxy)`,
      );
    }
    return {
      command,
      topic: command,
      forwards: [],
      out: v.out,
      importKind: kind,
      importFile: file,
    };
  }
  return {
    command,
    topic: command,
    ...(v.config !== undefined ? { config: v.config } : {}),
    ...(v.routing !== undefined ? { routing: v.routing } : {}),
    forwards: v.forward ?? [],
    ...(v.out !== undefined ? { out: v.out } : {}),
    ...(v["log-level"] !== undefined ? { logLevel: v["log-level"] } : {}),
    ...(v["log-format"] !== undefined ? { logFormat: v["log-format"] } : {}),
    ...(v.admin !== undefined ? { admin: v.admin } : {}),
  };
}
