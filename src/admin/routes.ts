// The admin API's route table (all but /api/v1/history, in ./routes_history.ts): probes, the
// routing/providers API, runtime drain, /metrics, the OpenAPI document with its viewer, and
// the dashboard.
import type { Context } from "hono";
import { DASHBOARD_HTML } from "./dashboard.ts";
import { DOCS_HTML } from "./docs_page.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./exposition.ts";
import { DrainRequest, DrainResult, Providers, Readiness, Routing } from "./schemas.ts";
import { listenerJson, providerJson } from "./views.ts";
import {
  type AdminDeps,
  type AdminRoute,
  errorResponse,
  errorResponses,
  readJson,
} from "./route_kit.ts";
import { historyRoute } from "./routes_history.ts";
import { stickRoutes } from "./stick.ts";

export function adminRoutes(deps: AdminDeps, openapi: () => Record<string, unknown>): AdminRoute[] {
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
    historyRoute(deps),
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
    ...(deps.extraRoutes ?? []),
  ];
}
