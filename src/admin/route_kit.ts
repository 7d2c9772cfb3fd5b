// What every admin route file shares: the dependencies, the route type, JSON errors and the
// request-body reader.
import type { Context } from "hono";
import type { z } from "zod";
import type { EngineControl } from "../proxy/types.ts";
import type { ProviderStatus } from "../providers/types.ts";
import type { Metrics } from "./metrics.ts";
import type { RouteDoc } from "./openapi.ts";
import { ErrorBody } from "./schemas.ts";
import type { History } from "./history/history.ts";

export interface AdminDeps {
  engine: EngineControl;
  providers(): readonly ProviderStatus[];
  metrics: Metrics;
  /** admin.token; "" = no authentication */
  token: string;
  version: string;
  /** e.g. "deno 2.9.6" */
  runtime: string;
  /** The in-memory history; the admin server keeps its own when absent. */
  history?: History;
  /** The clock /api/v1/history measures relative times with. @default Date.now */
  now?: () => number;
  /** True once shutdown started: /healthz answers 503 "draining". @default never */
  draining?: () => boolean;
  /** The admin.listener host, accepted in the Host header when there is no token. */
  listenHost?: string;
  /** Routes the app adds to the table: /api/v1/workers when runtime.workers > 1. */
  extraRoutes?: readonly AdminRoute[];
}

export interface AdminRoute extends RouteDoc {
  /** An HTML page: without a valid token it answers 401 with the page, which asks for the token. */
  readonly page?: boolean;
  handle(c: Context): Response | Promise<Response>;
}

type ErrorCode = ErrorBody["error"]["code"];

/** The largest request body accepted (drain bodies are tiny). */
export const MAX_BODY_BYTES = 16 * 1024;

export function errorResponse(
  c: Context,
  status: 400 | 401 | 404 | 405 | 413 | 415 | 421 | 500,
  code: ErrorCode,
  message: string,
  field?: string,
): Response {
  const body: ErrorBody = { error: { code, message, ...(field !== undefined ? { field } : {}) } };
  return c.json(body, status);
}

/** Reads and validates a JSON body; a Response is the 4xx to send instead. */
/** Reads and validates a JSON body; a Response is the 4xx to send instead. */
export async function readJson<T extends z.ZodType>(
  c: Context,
  schema: T,
): Promise<z.infer<T> | Response> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  // A JSON content type forces a CORS preflight, which this API never grants: a web page
  // elsewhere cannot drain backends through an operator's browser.
  if (type !== "application/json") {
    return errorResponse(
      c,
      415,
      "unsupported_media_type",
      `expected Content-Type: application/json, got "${type ?? ""}"`,
      "content-type",
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(await c.req.text());
  } catch (err) {
    return errorResponse(
      c,
      400,
      "bad_request",
      `body: not valid JSON (${(err as Error).message})`,
      "body",
    );
  }
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  let field = issue && issue.path.length ? issue.path.map(String).join(".") : "body";
  let message = issue?.message ?? "invalid";
  if (issue?.code === "unrecognized_keys") {
    field = issue.keys[0] ?? "body";
    message = "unknown field (expected listener and backend)";
  } else if (issue?.code === "invalid_type" && issue.path.length === 0) {
    message =
      'expected a JSON object such as {"listener": "127.0.0.1:5432", "backend": "10.0.0.7:5432"}';
  }
  return errorResponse(c, 400, "bad_request", `${field}: ${message}`, field);
}

export function errorResponses(
  ...statuses: string[]
): Record<string, { description: string; json: z.ZodType }> {
  const text: Record<string, string> = {
    "400": "A bad request body; error.field names the field",
    "401": "admin.token is set and the request has no or a wrong bearer token",
    "404": "Unknown listener or backend",
    "413": "The body is too large",
    "415": "The body is not sent as application/json",
    "421":
      "admin.token is not set and the Host header names neither a loopback name, an IP address " +
      "nor admin.listener's host (DNS rebinding protection)",
  };
  const out: Record<string, { description: string; json: z.ZodType }> = {};
  for (const s of [...statuses, "421"]) {
    out[s] = { description: text[s] ?? "Error", json: ErrorBody };
  }
  return out;
}
