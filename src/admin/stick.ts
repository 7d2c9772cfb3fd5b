// GET/DELETE /api/v1/stick: the stick table's entries (services with `stick`), readable and
// deletable (a deleted key is hashed afresh on its next connection). The table holds client
// addresses: behind admin.token like the rest of the API.
import type { Context } from "hono";
import { z } from "zod";
import type { EngineControl } from "../proxy/types.ts";
import type { RouteDoc } from "./openapi.ts";
import { adminSchemas, ErrorBody } from "./schemas.ts";

export const StickEntries = z.object({
  entries: z.array(z.object({
    service: z.string(),
    client: z.string().describe('The client key: its IP, "bytes:<hex>" or "<ip>+<hex>"'),
    backend: z.string().describe("The backend group it is stuck to (group label or host)"),
    used: z.string().describe("Last use (ISO 8601)"),
    expires: z.string().describe("When it expires unless used again (ISO 8601)"),
  })),
}).register(adminSchemas, { id: "StickEntries" });
export type StickEntries = z.infer<typeof StickEntries>;

export const StickDeleted = z.object({
  deleted: z.number().int().min(0),
}).register(adminSchemas, { id: "StickDeleted" });
export type StickDeleted = z.infer<typeof StickDeleted>;

type StickRoute = RouteDoc & { handle(c: Context): Response };

const errors = {
  "401": {
    description: "admin.token is set and the request has no or a wrong token",
    json: ErrorBody,
  },
  "421": {
    description: "The Host header is not allowed (DNS rebinding protection)",
    json: ErrorBody,
  },
};

export function stickRoutes(engine: EngineControl): StickRoute[] {
  return [
    {
      method: "get",
      path: "/api/v1/stick",
      operationId: "getStick",
      tag: "api",
      summary: "Stick-table entries, least recently used first (optional ?service=)",
      responses: { "200": { description: "The entries", json: StickEntries }, ...errors },
      handle: (c) => {
        const service = c.req.query("service");
        const body: StickEntries = {
          entries: (engine.stickEntries?.() ?? [])
            .filter((e) => service === undefined || e.service === service)
            .map((e) => ({
              service: e.service,
              client: e.client,
              backend: e.backend,
              used: new Date(e.usedMs).toISOString(),
              expires: new Date(e.expiresMs).toISOString(),
            })),
        };
        return c.json(body);
      },
    },
    {
      method: "delete",
      path: "/api/v1/stick",
      operationId: "deleteStick",
      tag: "api",
      summary: "Deletes stick entries matching ?service= and ?client= (neither: all)",
      responses: { "200": { description: "How many went", json: StickDeleted }, ...errors },
      handle: (c) => {
        const service = c.req.query("service");
        const client = c.req.query("client");
        const body: StickDeleted = { deleted: engine.unstick?.(service, client) ?? 0 };
        return c.json(body);
      },
    },
  ];
}
