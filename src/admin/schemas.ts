// The admin API's JSON shapes as zod schemas: the handlers validate request bodies with them,
// their types type the responses, and /openapi.json is generated from the same objects.
import { z } from "zod";

/** Every schema that /openapi.json names under components.schemas, by its id. */
export const adminSchemas: z.core.$ZodRegistry<{ id: string }> = z.registry<{ id: string }>();

const count = z.number().int().min(0);

export const ErrorBody = z.object({
  error: z.object({
    code: z.enum([
      "unauthorized",
      "bad_request",
      "not_found",
      "method_not_allowed",
      "payload_too_large",
      "unsupported_media_type",
      "misdirected_request",
      "internal",
    ])
      .describe("Stable machine-readable code"),
    message: z.string().describe("What went wrong, for humans"),
    field: z.string().optional().describe(
      "For bad_request: the path of the offending field in the request body",
    ),
  }),
}).register(adminSchemas, { id: "Error" });
export type ErrorBody = z.infer<typeof ErrorBody>;

export const Readiness = z.object({
  ready: z.boolean(),
  waiting: z.array(z.string()).describe("Providers that have not delivered routing once yet"),
}).register(adminSchemas, { id: "Readiness" });
export type Readiness = z.infer<typeof Readiness>;

export const Backend = z.object({
  key: z.string().describe(
    "Identity inside the listener: the address, prefixed by the redacted proxy URL when there is one",
  ),
  address: z.string().describe('The backend as routed, e.g. "10.0.0.7:5432"'),
  via: z.string().nullable().describe("Redacted SOCKS5 proxy URL, or null for a direct route"),
  service: z.string().describe("The service that brought this backend"),
  weight: z.number().int().min(0),
  tier: z.number().int().min(0).describe(
    "0 is the first tier; later tiers take traffic only when earlier ones cannot",
  ),
  health: z.enum(["up", "down", "unknown"]).describe(
    '"unknown" when no active check is configured',
  ),
  drain: z.boolean().describe("Takes no new connections (drained by routing or by this API)"),
  drain_override: z.boolean().describe("Drained through POST /api/v1/backends/drain"),
  disabled: z.boolean().optional().describe(
    "Takes no connection at all (disabled = true, or a failing check with fall_action = disable)",
  ),
  ejected: z.boolean().describe(
    "Taken out for a back-off after consecutive connect failures (passive ejection)",
  ),
  active_connections: count,
  total_connections: count,
  connect_failures: count,
  bytes_up: count.describe("Up: bytes sent to this backend (client to backend)"),
  bytes_down: count.describe("Down: bytes received from this backend (backend to client)"),
}).register(adminSchemas, { id: "Backend" });
export type Backend = z.infer<typeof Backend>;

export const SniRouting = z.object({
  timeout_ms: count.describe("sni_timeout: how long a client may take to send its ClientHello"),
  routes: z.array(z.object({
    service: z.string(),
    names: z.array(z.string()).describe(
      'Server names it takes ("*." = one label); empty for the default service',
    ),
    active_connections: count,
    total_connections: count,
  })).describe("One per service on the listener"),
  unmatched_connections: count.describe(
    "Closed because no service took the server name and there is no default",
  ),
  timeout_connections: count.describe("ClientHellos that did not arrive within sni_timeout"),
}).register(adminSchemas, { id: "SniRouting" });
export type SniRouting = z.infer<typeof SniRouting>;

export const Listener = z.object({
  address: z.string().describe('The bound address, e.g. "127.0.0.1:5432" or "[::]:5432"'),
  label: z.string().describe('The listeners.allowed label, e.g. "local"'),
  host: z.string(),
  port: z.number().int().min(0).max(65535),
  state: z.enum(["pending", "listening", "bind_failed", "draining"]),
  error: z.string().nullable().describe("For bind_failed: why the bind failed; else null"),
  services: z.array(z.string()),
  balance: z.enum(["round_robin", "weighted", "least_conn", "random", "p2c", "hash"]),
  active_connections: count,
  total_connections: count,
  refused_connections: count.describe("Refused by max_connections"),
  bytes_up: count.describe("Up: bytes received from clients (client to backend)"),
  bytes_down: count.describe("Down: bytes sent to clients (backend to client)"),
  backends: z.array(Backend),
  sni: SniRouting.nullable().describe(
    "For a listener whose services route by TLS server name (sni); else null",
  ),
}).register(adminSchemas, { id: "Listener" });
export type Listener = z.infer<typeof Listener>;

export const Routing = z.object({
  version: z.string().describe("sluice's version"),
  runtime: z.string().describe('The JavaScript runtime, e.g. "deno 2.9.6"'),
  listeners: z.array(Listener).describe("Sorted by address"),
}).register(adminSchemas, { id: "Routing" });
export type Routing = z.infer<typeof Routing>;

export const Provider = z.object({
  name: z.string(),
  kind: z.enum(["file", "http", "consul", "nomad", "forward"]),
  state: z.enum(["waiting", "ok", "failing", "stopped"]).describe(
    '"waiting": has not delivered once yet; "failing": keeps its last good routes and retries',
  ),
  last_update: z.string().nullable().describe("ISO time of the last snapshot delivered"),
  last_error: z.string().nullable().describe("The last error, secrets redacted"),
  index: z.string().nullable().describe("Blocking-query index, ETag or file mtime"),
  services: count.describe("Services in the last good snapshot"),
  updates: count.nullable().describe(
    "Snapshots delivered since start, when the provider counts them",
  ),
  errors: count.nullable().describe("Failed attempts since start, when the provider counts them"),
}).register(adminSchemas, { id: "Provider" });
export type Provider = z.infer<typeof Provider>;

export const Providers = z.object({
  providers: z.array(Provider),
}).register(adminSchemas, { id: "Providers" });
export type Providers = z.infer<typeof Providers>;

export const DrainRequest = z.strictObject({
  listener: z.string().min(1).describe(
    'The listener address as /api/v1/routing shows it, e.g. "127.0.0.1:5432"',
  ),
  backend: z.string().min(1).describe(
    "The backend's address, or its key when the same address is reached through several proxies",
  ),
}).register(adminSchemas, { id: "DrainRequest" });
export type DrainRequest = z.infer<typeof DrainRequest>;

export const DrainResult = z.object({
  listener: z.string(),
  backend: z.string(),
  drain: z.boolean().describe("The runtime override now in force"),
}).register(adminSchemas, { id: "DrainResult" });
export type DrainResult = z.infer<typeof DrainResult>;
