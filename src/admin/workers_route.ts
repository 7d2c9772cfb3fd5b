// GET /api/v1/workers (runtime.workers > 1): each process of the group as the primary sees it,
// worker 0 being the primary itself. The other routes already show the group as one (counters
// summed); this one says which process holds what, whether each answered, and which backends
// each has drained by the admin API.
import { z } from "zod";
import type { AdminRoute } from "./app.ts";
import { adminSchemas } from "./schemas.ts";

const count = z.number().int().min(0);

export const WorkersReport = z.object({
  workers: z.array(z.object({
    worker: count.describe("0 is the primary (it serves admin and peek), 1..N-1 the others"),
    pid: z.number().int().nullable().describe("null while a worker is being restarted"),
    up: z.boolean().describe("The process answered the primary's last question"),
    error: z.string().nullable().describe("Why it did not answer"),
    restarts: count.describe("Restarts after unexpected exits; each is logged"),
    last_exit: z.string().nullable().describe('How its last process ended, e.g. "signal SIGKILL"'),
    listeners: count,
    active_connections: count,
    total_connections: count.describe("Since this process started"),
    drained: z.array(z.string()).describe(
      'Backends drained by the admin API in this process, as "<listener> <backend>"',
    ),
  })),
}).register(adminSchemas, { id: "Workers" });
export type WorkersReport = z.infer<typeof WorkersReport>;

/** The route, given the report's source. */
export function workersRoute(report: () => WorkersReport): AdminRoute {
  return {
    method: "get",
    path: "/api/v1/workers",
    operationId: "getWorkers",
    tag: "api",
    summary: "Each process of the group (runtime.workers > 1): pid, state, connections, drains",
    responses: {
      "200": { description: "The processes", json: WorkersReport },
    },
    handle: (c) => c.json(report()),
  };
}
