// The admin hono app: probes, the routing/providers API, runtime drain, /metrics, the OpenAPI
// document with its viewer, and the dashboard. Every route is declared once in a table; the app
// and /openapi.json are both built from it, so the document cannot miss a route.
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { z } from "zod";
import type { EngineControl } from "../proxy/types.ts";
import type { ProviderStatus } from "../providers/types.ts";
import { challenge, checkBearer } from "./auth.ts";
import { hostAllowed } from "./host_check.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";
import { DOCS_HTML } from "./docs_page.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./exposition.ts";
import type { Metrics } from "./metrics.ts";
import { buildOpenApi, type RouteDoc } from "./openapi.ts";
import { DrainRequest, DrainResult, ErrorBody, Providers, Readiness, Routing } from "./schemas.ts";
import { listenerJson, providerJson } from "./views.ts";
import { stickRoutes } from "./stick.ts";

export interface AdminDeps {
  engine: EngineControl;
  providers(): readonly ProviderStatus[];
  metrics: Metrics;
  /** admin.token; "" = no authentication */
  token: string;
  version: string;
  /** e.g. "deno 2.9.6" */
  runtime: string;
  /** True once shutdown started: /healthz answers 503 "draining". @default never */
  draining?: () => boolean;
  /** The admin.listener host, accepted in the Host header when there is no token. */
  listenHost?: string;
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
async function readJson<T extends z.ZodType>(
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

function errorResponses(
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

function adminRoutes(deps: AdminDeps, openapi: () => Record<string, unknown>): AdminRoute[] {
  const drain = (on: boolean) => async (c: Context): Promise<Response> => {
    const body = await readJson(c, DrainRequest);
    if (body instanceof Response) return body;
    if (!deps.engine.setDrain(body.listener, body.backend, on)) {
      const known = deps.engine.listeners().some((l) => l.key === body.listener);
      return known
        ? errorResponse(
          c,
          404,
          "not_found",
          `listener "${body.listener}" has no backend "${body.backend}"`,
          "backend",
        )
        : errorResponse(c, 404, "not_found", `no listener "${body.listener}"`, "listener");
    }
    const res: DrainResult = { listener: body.listener, backend: body.backend, drain: on };
    return c.json(res);
  };
  const drainDoc = {
    path: "/api/v1/backends/drain",
    tag: "api",
    body: DrainRequest,
    responses: {
      "200": {
        description: "The override is in force; it applies from the next connection",
        json: DrainResult,
      },
      ...errorResponses("400", "401", "404", "413", "415"),
    },
  } as const;

  return [
    ...stickRoutes(deps.engine),
    {
      method: "get",
      path: "/healthz",
      operationId: "healthz",
      tag: "health",
      summary: 'Liveness: 200 "ok" while the process runs, 503 "draining" during shutdown',
      description:
        "Never requires the token. During the shutdown drain it answers 503 with the body " +
        '"draining", so that load balancers stop sending new clients; /metrics stays up too.',
      open: true,
      responses: {
        "200": { description: "ok", media: "text/plain" },
        "503": { description: "draining: shutting down", media: "text/plain" },
      },
      handle: (c) => deps.draining?.() ? c.text("draining\n", 503) : c.text("ok\n"),
    },
    {
      method: "get",
      path: "/readyz",
      operationId: "readyz",
      tag: "health",
      summary: "Readiness: 200 once every provider has delivered routing once",
      responses: {
        "200": { description: "Every provider has delivered (or there is none)", json: Readiness },
        "503": { description: "Some providers have not delivered yet", json: Readiness },
        ...errorResponses("401"),
      },
      handle: (c) => {
        const waiting = deps.providers().filter((p) => p.state === "waiting").map((p) => p.name);
        const body: Readiness = { ready: waiting.length === 0, waiting };
        return c.json(body, waiting.length === 0 ? 200 : 503);
      },
    },
    {
      method: "get",
      path: "/api/v1/routing",
      operationId: "getRouting",
      tag: "api",
      summary: "Listeners and their backends, with state and live counters",
      responses: {
        "200": { description: "The live routing", json: Routing },
        ...errorResponses("401"),
      },
      handle: (c) => {
        const body: Routing = {
          version: deps.version,
          runtime: deps.runtime,
          listeners: deps.engine.listeners().map(listenerJson),
        };
        return c.json(body);
      },
    },
    {
      method: "get",
      path: "/api/v1/providers",
      operationId: "getProviders",
      tag: "api",
      summary: "Each routing provider's state",
      responses: {
        "200": { description: "The providers", json: Providers },
        ...errorResponses("401"),
      },
      handle: (c) => {
        const body: Providers = { providers: deps.providers().map(providerJson) };
        return c.json(body);
      },
    },
    {
      ...drainDoc,
      method: "post",
      operationId: "drainBackend",
      summary: "Drain a backend: it takes no new connections, open ones go on",
      handle: drain(true),
    },
    {
      ...drainDoc,
      method: "delete",
      operationId: "undrainBackend",
      summary: "Remove the runtime drain override of a backend",
      description: "A backend drained by its routing document stays drained.",
      handle: drain(false),
    },
    {
      method: "get",
      path: "/metrics",
      operationId: "metrics",
      tag: "metrics",
      summary: "Prometheus text exposition",
      responses: {
        "200": { description: "Metrics", media: "text/plain; version=0.0.4" },
        ...errorResponses("401"),
      },
      handle: (c) => {
        const text = deps.metrics.render({
          listeners: deps.engine.listeners(),
          providers: deps.providers(),
        });
        return c.body(text, 200, { "content-type": PROMETHEUS_CONTENT_TYPE });
      },
    },
    {
      method: "get",
      path: "/openapi.json",
      operationId: "openapi",
      tag: "docs",
      summary: "This OpenAPI 3.1 document",
      responses: {
        "200": { description: "The document", media: "application/json" },
        ...errorResponses("401"),
      },
      handle: (c) => c.json(openapi()),
    },
    {
      method: "get",
      path: "/docs",
      operationId: "docs",
      tag: "docs",
      summary: "A page that renders this document",
      description: "Without a valid token it answers 401 with the page, which asks for the token.",
      page: true,
      responses: {
        "200": { description: "HTML", media: "text/html" },
        "401": { description: "HTML", media: "text/html" },
      },
      handle: (c) => c.html(DOCS_HTML),
    },
    {
      method: "get",
      path: "/",
      operationId: "dashboard",
      tag: "dashboard",
      summary: "The live dashboard",
      description: "Without a valid token it answers 401 with the page, which asks for the token.",
      page: true,
      responses: {
        "200": { description: "HTML", media: "text/html" },
        "401": { description: "HTML", media: "text/html" },
      },
      handle: (c) => c.html(DASHBOARD_HTML),
    },
  ];
}

// Inline scripts and styles only: the pages load nothing from anywhere.
const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

export interface AdminApp {
  readonly app: Hono;
  readonly routes: readonly AdminRoute[];
}

/** The app and the route table it was built from (tests compare it with app.routes). */
export function createAdminRoutes(deps: AdminDeps): AdminApp {
  const app = new Hono();
  let doc: Record<string, unknown> | undefined;
  const routes = adminRoutes(
    deps,
    () => doc ??= buildOpenApi({ routes, version: deps.version, auth: deps.token !== "" }),
  );
  const byPath = new Map<string, AdminRoute[]>();
  for (const r of routes) byPath.set(r.path, [...(byPath.get(r.path) ?? []), r]);

  app.use("*", async (c, next) => {
    // Without a token, only the address itself may be named: a web page whose name was
    // rebound to 127.0.0.1 (DNS rebinding) sends its own name and is turned away.
    if (deps.token === "" && !hostAllowed(c.req.header("host"), deps.listenHost)) {
      return errorResponse(
        c,
        421,
        "misdirected_request",
        "Host header names neither a loopback name, an IP address nor admin.listener's host",
      );
    }
    const candidates = byPath.get(c.req.path);
    const route = candidates?.find((r) => r.method === c.req.method.toLowerCase()) ??
      candidates?.[0];
    if (!route?.open) {
      const auth = await checkBearer(c.req.header("authorization"), deps.token);
      if (auth !== "ok") {
        c.header("WWW-Authenticate", challenge(auth));
        if (route?.page && c.req.method === "GET") {
          // The page holds no state; it asks for the token and sends it on its own requests.
          for (const [k, v] of Object.entries(PAGE_HEADERS)) c.header(k, v);
          return c.html(route.path === "/docs" ? DOCS_HTML : DASHBOARD_HTML, 401);
        }
        return errorResponse(
          c,
          401,
          "unauthorized",
          auth === "missing"
            ? "this endpoint needs Authorization: Bearer <admin.token>"
            : "wrong bearer token",
        );
      }
    }
    await next();
    c.header("cache-control", "no-store");
    if (route?.page) { for (const [k, v] of Object.entries(PAGE_HEADERS)) c.header(k, v); }
  });

  for (const r of routes) {
    if (r.method === "get") app.get(r.path, r.handle);
    else {
      const limit = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => tooLarge(c) });
      if (r.method === "post") app.post(r.path, limit, r.handle);
      else app.delete(r.path, limit, r.handle);
    }
  }

  app.notFound((c) => {
    const known = byPath.get(c.req.path);
    if (known) {
      c.header("Allow", known.map((r) => r.method.toUpperCase()).join(", "));
      return errorResponse(
        c,
        405,
        "method_not_allowed",
        `${c.req.method} is not allowed on ${c.req.path}`,
      );
    }
    return errorResponse(c, 404, "not_found", `no such endpoint: ${c.req.method} ${c.req.path}`);
  });
  app.onError((err, c) => errorResponse(c, 500, "internal", err.message));
  return { app, routes };
}

function tooLarge(c: Context): Response {
  return errorResponse(
    c,
    413,
    "payload_too_large",
    `body: larger than ${MAX_BODY_BYTES} bytes`,
    "body",
  );
}

export function createAdminApp(deps: AdminDeps): Hono {
  return createAdminRoutes(deps).app;
}
