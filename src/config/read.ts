// The config loader's only I/O: reading the main config file (and, through `readText`, the TLS
// PEM files it names). Parsing the text into a table happens here too, with line and column.
import { readFile } from "node:fs/promises";
import { ConfigError, errorMessage } from "../errors.ts";
import { show } from "../text/issues.ts";
import { formatFromPath, parseText, TextSyntaxError } from "../text/text_format.ts";
import { isTable, type Json } from "./layers.ts";
import { type Collector, fail } from "./problems.ts";
import { schemaLeaves } from "./schema.ts";
import { parseViperText, viperFormatFromPath, ViperSyntaxError } from "./viper_formats.ts";

/** Reads a UTF-8 text file (the config file, PEM files). */
export function readText(path: string): Promise<string> {
  return readFile(path, "utf8");
}

/** The main config file as a table; throws ConfigError when it cannot be read or parsed. */
export async function readConfigFile(c: Collector, path: string): Promise<Json> {
  const format = formatFromPath(path);
  const viper = format ? undefined : viperFormatFromPath(path);
  if (!format && !viper) {
    c.add(
      "",
      `unknown file extension (expected .toml, .yaml, .yml, .json, .hcl, .env or .properties)`,
    );
    fail(c, path);
  }
  let text: string;
  try {
    text = await readText(path);
  } catch (err) {
    c.add("", `cannot read the file: ${errorMessage(err)}`);
    fail(c, path);
  }
  let data: unknown;
  try {
    if (viper) data = await parseViperText(text, viper, schemaLeaves());
    else data = text.trim() === "" ? {} : parseText(text, format!);
  } catch (err) {
    if (err instanceof ViperSyntaxError) {
      const problem = { path: "", message: `${path}: ${err.reason}` };
      throw new ConfigError(`Invalid configuration ${path}: ${problem.message}`, [problem], {
        cause: err,
      });
    }
    if (err instanceof TextSyntaxError) {
      const problem = { path: "", message: `${path}:${err.line}:${err.column}: ${err.reason}` };
      throw new ConfigError(`Invalid configuration ${path}: ${problem.message}`, [problem], {
        cause: err,
      });
    }
    throw err;
  }
  if (data === null || data === undefined) data = {};
  if (!isTable(data)) {
    c.add("", `expected a table of settings at the top level, got ${show(data)}`);
    fail(c, path);
  }
  return data;
}
