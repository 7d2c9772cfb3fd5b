// Writes the published JSON Schemas (configs/schema/) from the zod schemas in src/.
// Run: deno run -A scripts/gen_schema.ts   (tests/routing/schema_file_test.ts fails when stale)
import process from "node:process";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { schemaFiles } from "../src/config/schema_files.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
for (const [path, text] of Object.entries(schemaFiles())) {
  await writeFile(join(root, path), text);
  process.stdout.write(`wrote ${path}\n`);
}
