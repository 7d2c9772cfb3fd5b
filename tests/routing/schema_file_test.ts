// The published JSON Schemas (configs/schema/) are up to date and accept every example file.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { schemaFiles } from "../../src/config/schema_files.ts";
import { validateServices } from "../../src/routing/service.ts";
import { configSchema } from "../../src/config/schema.ts";
import { parseText, type TextFormat } from "../../src/text/text_format.ts";
import { checkJsonSchema } from "./_json_schema_check.ts";

const ROOT = join(fileURLToPath(new URL(".", import.meta.url)), "../..");
const ROUTING_EXAMPLES = [
  "configs/routing.toml",
  "configs/routing.yaml",
  "configs/routing.json",
  "configs/dill/routing.toml",
  "configs/dill/routing.yaml",
  "configs/dill/routing.json",
];
const CONFIG_EXAMPLES = ROUTING_EXAMPLES.map((p) => p.replace("routing.", "config."));

async function load(path: string): Promise<unknown> {
  const format = path.split(".").pop() as TextFormat;
  return parseText(await readFile(join(ROOT, path), "utf8"), format);
}

async function committed(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(ROOT, path), "utf8"));
}

describe("configs/schema/", () => {
  it("matches the zod schemas (run `deno run -A scripts/gen_schema.ts` when this fails)", async () => {
    for (const [path, text] of Object.entries(schemaFiles())) {
      assert.equal(await readFile(join(ROOT, path), "utf8"), text, `${path} is stale`);
    }
  });

  for (const path of ROUTING_EXAMPLES) {
    it(`routing.schema.json accepts ${path}`, async () => {
      const schema = await committed("configs/schema/routing.schema.json");
      const doc = await load(path);
      assert.deepEqual(checkJsonSchema(schema, doc), []);
      // ...and so does the validator, which checks with the zod shapes the schema comes from.
      const services = (doc as { services: unknown[] }).services;
      assert.deepEqual(validateServices(services, path).problems, []);
    });
  }

  for (const path of CONFIG_EXAMPLES) {
    it(`config.schema.json accepts ${path}`, async () => {
      const schema = await committed("configs/schema/config.schema.json");
      const doc = await load(path);
      assert.deepEqual(checkJsonSchema(schema, doc), []);
      assert.equal(configSchema.safeParse(doc).success, true);
    });
  }

  it("routing.schema.json rejects malformed documents", async () => {
    const schema = await committed("configs/schema/routing.schema.json");
    const bad: [unknown, RegExp][] = [
      [{ services: [{ name: "a", listener: "nope", backends: [] }] }, /listener: does not match/],
      [{ services: [{ name: "a", listener: "l:1", backends: [{ adress: "x:1" }] }] }, /anyOf/],
      [
        { services: [{ name: "a", listener: "l:1", backends: [], balance: "x" }] },
        /balance: not in enum/,
      ],
      [
        { services: [{ name: "a", listener: "l:1", backends: [], lisener: "x" }] },
        /unexpected key lisener/,
      ],
      [
        { services: [{ name: "a", listener: "l:1", backends: [], connect_timeout: "5 s" }] },
        /anyOf/,
      ],
      [{ services: [{ listener: "l:1", backends: [] }] }, /missing name/],
    ];
    for (const [doc, re] of bad) {
      const errors = checkJsonSchema(schema, doc);
      assert.match(errors.join("\n"), re, JSON.stringify(doc));
    }
  });
});
