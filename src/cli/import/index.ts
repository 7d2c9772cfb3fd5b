// `sluice import iaido|tcpffee|tcpproxy FILE -o DIR`: reads the other proxy's config, writes
// DIR/config.toml and DIR/routing.toml, then checks them as `sluice check` would, so what it
// prints is what sluice will run: the files, every setting left behind and why, and the
// check's verdict.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage, SluiceError } from "../../errors.ts";
import { parseText, TextSyntaxError } from "../../text/text_format.ts";
import { loadConfig } from "../../config/load.ts";
import { parseRoutingDocument } from "../../routing/document.ts";
import { buildTable } from "../../routing/table.ts";
import { tableConfigFrom } from "../../config/table_config.ts";
import { type Imported, ImportError, writeImport } from "./common.ts";
import { importIaido } from "./iaido.ts";
import { importTcpffee } from "./tcpffee.ts";
import { importTcpproxy } from "./tcpproxy.ts";

const IMPORT_KINDS = {
  iaido: { format: "yaml", convert: importIaido },
  tcpffee: { format: "toml", convert: importTcpffee },
  tcpproxy: { format: "yaml", convert: importTcpproxy },
} as const;

export type ImportKind = keyof typeof IMPORT_KINDS;

/** Parses and converts; throws a CONFIG SluiceError naming the file for unusable input. */
export function convertImport(kind: ImportKind, text: string, source: string): Imported {
  const { format, convert } = IMPORT_KINDS[kind];
  let data: unknown;
  try {
    data = parseText(text, format);
  } catch (e) {
    if (e instanceof TextSyntaxError) {
      throw new SluiceError("CONFIG", `Cannot import ${source}:${e.line}:${e.column}: ${e.reason}`);
    }
    throw e;
  }
  try {
    return convert(data);
  } catch (e) {
    if (e instanceof ImportError) {
      throw new SluiceError("CONFIG", `Cannot import ${source} as ${kind}: ${e.message}`);
    }
    throw e;
  }
}

export interface ImportReport {
  readonly lines: string[];
  /** 0: written and valid; 1: written, but the check found problems */
  readonly code: number;
}

export async function runImport(
  kind: ImportKind,
  file: string,
  dir: string,
): Promise<ImportReport> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new SluiceError("CONFIG", `Cannot read ${file}: ${errorMessage(e)}`);
  }
  const r = convertImport(kind, text, file);
  const [configPath, routingPath] = await writeImport(dir, kind, file, r);
  const lines = [`wrote ${configPath} and ${routingPath}`];
  for (const n of r.notes) lines.push(`note: ${n}`);
  for (const s of r.skipped) lines.push(`not carried over: ${s.key}: ${s.why}`);
  if (r.skipped.length === 0) lines.push("every setting was carried over");

  // The check `sluice check -c DIR/config.toml` runs, on what was just written.
  const config = await loadConfig({ path: configPath!, env: {} });
  const routing = join(dir, "routing.toml");
  const doc = parseRoutingDocument(await readFile(routing, "utf8"), "toml", routing);
  const built = buildTable([{ provider: "file", services: doc.services }], tableConfigFrom(config));
  const problems = [...doc.problems, ...built.problems];
  for (const p of problems) {
    lines.push(`problem: ${p.source}: service "${p.service}": ${p.field}: ${p.reason}`);
  }
  lines.push(
    problems.length === 0
      ? `check: ok (${built.table.listeners.size} listener(s)); run: sluice run -c ${configPath}`
      : `check: ${problems.length} problem(s)`,
  );
  return { lines, code: problems.length === 0 ? 0 : 1 };
}
