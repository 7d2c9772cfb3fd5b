// /api/v1/history's query parameters and answer as zod schemas (registered for /openapi.json).
import { z } from "zod";
import { adminSchemas } from "./schemas.ts";
import { BACKEND_STATES } from "./history/history.ts";

const values = z.array(z.number().min(0).nullable()).describe(
  "One value a bucket of t; null where no second of the bucket was sampled",
);
const rateDoc = (what: string) => values.describe(`${what} per second (avg or max by agg)`);

const rates = {
  connections: rateDoc("New connections"),
  active: values.describe("Open connections (avg or max by agg)"),
  connect_failures: rateDoc("Failed connect attempts to backends"),
  bytes_up: rateDoc("Bytes from clients to backends (up)"),
  bytes_down: rateDoc("Bytes from backends to clients (down)"),
};

const HistoryBackend = z.object({
  key: z.string().describe("The backend's key, as in /api/v1/routing"),
  ...rates,
  state: z.array(z.enum(BACKEND_STATES).nullable()).describe(
    "down > ejected > drained > up > unknown: a bucket shows its most severe state",
  ),
}).register(adminSchemas, { id: "HistoryBackend" });

export const HistoryListener = z.object({
  address: z.string(),
  live: z.boolean().describe("false once the listener left the routing (kept until it ages out)"),
  ...rates,
  refused: rateDoc("Connections refused by max_connections"),
  backends: z.array(HistoryBackend),
}).register(adminSchemas, { id: "HistoryListener" });

const HistoryEvent = z.object({
  t: z.number().int().describe("epoch milliseconds"),
  kind: z.enum(["listener_opened", "listener_closed", "provider_error"]),
  listener: z.string().optional(),
  provider: z.string().optional(),
  message: z.string().optional().describe("For provider_error: the error, secrets redacted"),
}).register(adminSchemas, { id: "HistoryEvent" });

export const History = z.object({
  since: z.number().int().describe("First second covered (epoch seconds), after clipping"),
  until: z.number().int().describe("Last second covered (epoch seconds)"),
  step: z.number().int().min(1).describe("Bucket width in seconds"),
  agg: z.enum(["avg", "max"]),
  retention_seconds: z.number().int().describe("How far back the history goes (one slot a second)"),
  t: z.array(z.number().int()).describe("Bucket start times, epoch seconds"),
  totals: z.object({ ...rates, refused: rateDoc("Refused connections") }).describe(
    "Every listener summed, whatever the listener filter",
  ),
  listeners: z.array(HistoryListener).describe("Sorted by address"),
  providers: z.array(z.object({
    name: z.string(),
    updates: rateDoc("Routing snapshots delivered"),
    errors: rateDoc("Failed attempts"),
  })),
  events: z.array(HistoryEvent).describe("Routing changes and provider errors, oldest first"),
  series: z.object({
    count: z.number().int().describe("Listener, backend and provider series kept"),
    limit: z.number().int().describe("At most this many; newer ones are not recorded"),
    dropped: z.number().int().describe("Series observations not recorded for the limit"),
    bytes: z.number().int().describe("Memory the rings hold"),
  }),
}).register(adminSchemas, { id: "History" });
export type HistoryBody = z.infer<typeof History>;

const seconds = z.string().regex(/^-?\d{1,12}$/, "expected epoch seconds, or -N for N seconds ago")
  .transform(Number);

/** The query string; since/until accept epoch seconds or -N (N seconds before now). */
export const HistoryQuery = z.strictObject({
  listener: z.array(z.string()).optional(),
  since: seconds.optional(),
  until: seconds.optional(),
  step: z.string().regex(/^\d{1,5}$/, "expected whole seconds").transform(Number)
    .refine((n) => n >= 1 && n <= 3600, "expected 1 to 3600").optional(),
  agg: z.enum(["avg", "max"]).optional(),
});
