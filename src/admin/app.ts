// The admin hono app. Every route is declared once in a table (./routes.ts); the app and
// /openapi.json are both built from it, so the document cannot miss a route.
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { challenge, checkBearer } from "./auth.ts";
import { hostAllowed } from "./host_check.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";
import { DOCS_HTML } from "./docs_page.ts";
import { buildOpenApi } from "./openapi.ts";
import { type AdminDeps, type AdminRoute, errorResponse, MAX_BODY_BYTES } from "./route_kit.ts";
import { adminRoutes } from "./routes.ts";

export type { AdminDeps, AdminRoute } from "./route_kit.ts";

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
    else if (r.method === "post") {
      app.post(
        r.path,
        bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => tooLarge(c) }),
        r.handle,
      );
    } else {app.delete(
        r.path,
        bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => tooLarge(c) }),
        r.handle,
      );}
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
