// The configuration error: every problem of a config (or flag, or environment) at once.
import { SluiceError } from "../errors.ts";

export interface ConfigProblem {
  /** Key path, e.g. "listeners.port_min" */
  readonly path: string;
  /** What was wrong and what was expected; may name the source (file, env variable, flag) */
  readonly message: string;
}

/** Thrown for usage and configuration errors (exit 2); `problems` holds every problem found. */
export class ConfigError extends SluiceError {
  readonly problems: readonly ConfigProblem[];
  constructor(message: string, problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    super("CONFIG", message, options);
    this.name = "ConfigError";
    this.problems = problems;
  }
}
