// GET /api/v1/history: the in-memory history (./history/) as JSON, filtered by listener and
// time window, downsampled to `step` seconds.
import type { Context } from "hono";
import { createHistory, type History } from "./history/history.ts";
import { History as HistorySchema, type HistoryBody, HistoryQuery } from "./history_schemas.ts";
import { type AdminDeps, type AdminRoute, errorResponse, errorResponses } from "./route_kit.ts";

const PARAMS = ["listener", "since", "until", "step", "agg"];

export function historyRoute(deps: AdminDeps): AdminRoute {
  // Without a history (tests of other routes), an empty one answers.
  let empty: History | undefined;
  const history = () => deps.history ?? (empty ??= createHistory({ seconds: 1 }));
  return {
    method: "get",
    path: "/api/v1/history",
    operationId: "getHistory",
    tag: "api",
    summary: "Rates, backend states and routing events of the last minutes, one value a second",
    description: "Query parameters: `listener` (repeatable or comma-separated; an empty value " +
      "keeps the totals only), `since` and `until` (epoch seconds, or -N for N seconds ago; " +
      "default: the whole window, 15 minutes), `step` (bucket width in seconds, 1 to 3600, " +
      "default 1) and `agg` (avg or max, default avg). Rates are per second.",
    responses: {
      "200": { description: "The history", json: HistorySchema },
      ...errorResponses("400", "401"),
    },
    handle: (c: Context): Response => {
      const raw: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(c.req.queries())) {
        if (!PARAMS.includes(k)) {
          return errorResponse(c, 400, "bad_request", `${k}: unknown query parameter`, k);
        }
        raw[k] = k === "listener" ? v.flatMap((x) => x.split(",")) : v.at(-1);
      }
      const r = HistoryQuery.safeParse(raw);
      if (!r.success) {
        const issue = r.error.issues[0];
        const field = issue?.path.map(String).join(".") || "query";
        return errorResponse(c, 400, "bad_request", `${field}: ${issue?.message}`, field);
      }
      const h = history();
      const now = Math.floor((deps.now ?? Date.now)() / 1000);
      const abs = (v: number | undefined, d: number) => v === undefined ? d : v <= 0 ? now + v : v;
      const until = abs(r.data.until, now);
      const since = abs(r.data.since, until - h.retentionSeconds + 1);
      if (since > until) {
        return errorResponse(c, 400, "bad_request", "since: after until", "since");
      }
      const body: HistoryBody = h.query({
        since,
        until,
        step: r.data.step ?? 1,
        agg: r.data.agg ?? "avg",
        ...(r.data.listener ? { listeners: new Set(r.data.listener.filter((x) => x)) } : {}),
      });
      return c.json(body);
    },
  };
}
