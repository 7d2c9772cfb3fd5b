// The text of the JSON Schema files published under configs/schema/, by repository path.
import { configJsonSchema } from "./schema.ts";
import { routingJsonSchema } from "../routing/schema.ts";

export function schemaFiles(): Record<string, string> {
  return {
    "configs/schema/routing.schema.json": JSON.stringify(routingJsonSchema(), null, 2) + "\n",
    "configs/schema/config.schema.json": JSON.stringify(configJsonSchema(), null, 2) + "\n",
  };
}
