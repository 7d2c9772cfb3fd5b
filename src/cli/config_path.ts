// Which main config to read: `-c PATH`, else $SLUICE_CONFIG, else the first of
// ./config.{toml,yaml,yml,json} and /etc/sluice/config.toml that exists (tcpproxy reads
// ./config.yaml with no flag, tcpffee its TCPFFEE_CONFIG_PATH). The choice is said at start.
import { stat } from "node:fs/promises";

const DEFAULT_CONFIG_PATHS = [
  "./config.toml",
  "./config.yaml",
  "./config.yml",
  "./config.json",
  "/etc/sluice/config.toml",
] as const;

export interface ConfigChoice {
  /** undefined: no file, defaults (plus environment and flags) */
  readonly path?: string;
  /** How it was chosen, for the start log and `sluice check`. */
  readonly how: string;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export async function chooseConfig(
  flag: string | undefined,
  env: Record<string, string | undefined>,
  candidates: readonly string[] = DEFAULT_CONFIG_PATHS,
): Promise<ConfigChoice> {
  if (flag !== undefined) return { path: flag, how: "given with -c" };
  const fromEnv = env.SLUICE_CONFIG;
  if (fromEnv !== undefined && fromEnv !== "") {
    return { path: fromEnv, how: "from SLUICE_CONFIG" };
  }
  for (const p of candidates) {
    if (await isFile(p)) return { path: p, how: "found (no -c given)" };
  }
  return {
    how: `none found (no -c, no SLUICE_CONFIG, none of ${candidates.join(", ")}): using defaults`,
  };
}
