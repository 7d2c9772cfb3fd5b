// The OpenAPI 3.1 document of the admin API, generated from the route table the app is built
// from and the zod schemas its handlers validate with (components come from adminSchemas).
import { z } from "zod";
import { adminSchemas } from "./schemas.ts";

export type HttpMethod = "get" | "post" | "delete";

export interface ResponseDoc {
  readonly description: string;
  /** A registered JSON schema (application/json) */
  readonly json?: z.ZodType;
  /** A non-JSON media type, e.g. "text/plain" or "text/html" */
  readonly media?: string;
}

export interface RouteDoc {
  readonly method: HttpMethod;
  /** hono path syntax; only static paths are used */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: "health" | "api" | "metrics" | "docs" | "dashboard";
  /** Served without the token even when admin.token is set (only /healthz). @default false */
  readonly open?: boolean;
  /** A registered schema the JSON request body is validated with */
  readonly body?: z.ZodType;
  readonly responses: Readonly<Record<string, ResponseDoc>>;
}

function schemaRef(s: z.ZodType): { $ref: string } {
  const meta = adminSchemas.get(s);
  if (!meta) throw new Error("Cannot reference a schema: it is not registered in adminSchemas");
  return { $ref: `#/components/schemas/${meta.id}` };
}

let componentsCache: Record<string, unknown> | undefined;

/** Every registered schema as OpenAPI 3.1 components (JSON Schema 2020-12). */
function componentSchemas(): Record<string, unknown> {
  if (componentsCache) return componentsCache;
  const out = z.toJSONSchema(adminSchemas, { uri: (id) => `#/components/schemas/${id}` });
  const schemas: Record<string, unknown> = {};
  for (const [id, s] of Object.entries(out.schemas)) {
    // $schema/$id belong to standalone documents; OpenAPI 3.1 sets the dialect once.
    const { $schema: _s, $id: _i, ...rest } = s as Record<string, unknown>;
    schemas[id] = rest;
  }
  return componentsCache = schemas;
}

function responseObject(r: ResponseDoc): Record<string, unknown> {
  if (r.json) {
    return {
      description: r.description,
      content: { "application/json": { schema: schemaRef(r.json) } },
    };
  }
  if (r.media) {
    return { description: r.description, content: { [r.media]: { schema: { type: "string" } } } };
  }
  return { description: r.description };
}

export interface OpenApiOptions {
  readonly routes: readonly RouteDoc[];
  readonly version: string;
  /** Whether admin.token is set: then every route but the open ones requires it. */
  readonly auth: boolean;
}

export function buildOpenApi(o: OpenApiOptions): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of o.routes) {
    const op: Record<string, unknown> = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
    };
    if (r.description) op.description = r.description;
    if (r.body) {
      op.requestBody = {
        required: true,
        content: { "application/json": { schema: schemaRef(r.body) } },
      };
    }
    const responses: Record<string, unknown> = {};
    for (const [status, doc] of Object.entries(r.responses)) {
      responses[status] = responseObject(doc);
    }
    op.responses = responses;
    if (r.open) op.security = [];
    (paths[r.path] ??= {})[r.method] = op;
  }
  const doc: Record<string, unknown> = {
    openapi: "3.1.0",
    info: {
      title: "sluice admin API",
      version: o.version,
      description:
        "Live routing, providers, runtime drain, Prometheus metrics and the dashboard of a sluice " +
        'TCP proxy. Errors are JSON: {"error": {"code", "message", "field"?}}.',
      license: { name: "MIT", identifier: "MIT" },
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    tags: [
      { name: "health", description: "Liveness and readiness probes" },
      { name: "api", description: "Routing state and control" },
      { name: "metrics", description: "Prometheus exposition" },
      { name: "docs", description: "This document and its viewer" },
      { name: "dashboard", description: "The live dashboard page" },
    ],
    paths,
    components: {
      schemas: componentSchemas(),
      ...(o.auth
        ? {
          securitySchemes: {
            bearer: {
              type: "http",
              scheme: "bearer",
              description: "admin.token from sluice's configuration",
            },
          },
        }
        : {}),
    },
  };
  if (o.auth) doc.security = [{ bearer: [] }];
  return doc;
}
