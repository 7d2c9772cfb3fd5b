// The zod schema of a routing document (SPEC section 3): validation of each field and the
// source of the published JSON Schema (configs/schema/routing.schema.json).
import { z } from "zod";
import { DURATION_PATTERN, formatDuration } from "../text/duration.ts";
import { DEFAULTS } from "../defaults.ts";

const H_ = DEFAULTS.health;
const S_ = DEFAULTS.settings;

const BALANCE_NAMES = [
  "round_robin",
  "weighted",
  "least_conn",
  "random",
  "p2c",
  "hash",
] as const;
const HASH_KEY_PATTERN = "^(?:client_ip|(?:client_ip\\+)?first_bytes:\\d+-\\d+)$";
const LISTENER_PATTERN = "^[^:\\s]+:\\d{1,5}$";

export const durationSchema = z.union([
  z.string().regex(new RegExp(DURATION_PATTERN)),
  z.number().nonnegative(),
]).meta({ description: 'Go-style duration ("250ms", "5s", "1m30s") or a number of seconds' });

const listenerStringSchema = z.string().regex(new RegExp(LISTENER_PATTERN)).meta({
  description: 'LABEL:PORT, the label being a key of listeners.allowed, e.g. "any:5432"',
});

/** The shape of `health`, shared by services and `defaults.health` in the main config. */
export const healthShape = {
  type: z.enum(["tcp", "http"]).optional().meta({ description: "tcp (default) or http" }),
  interval: durationSchema.optional().meta({
    description: `time between checks (default ${formatDuration(H_.intervalMs)})`,
  }),
  timeout: durationSchema.optional().meta({
    description: "time a check may take (default half the interval)",
  }),
  rise: z.int().min(1).optional().meta({
    description: `successes that mark a backend up (default ${H_.rise})`,
  }),
  fall: z.int().min(1).optional().meta({
    description: `failures that mark a backend down (default ${H_.fall})`,
  }),
  path: z.string().regex(/^\//).optional().meta({
    description: `http only: request path (default "${H_.path}")`,
  }),
  method: z.string().regex(/^[A-Z]+$/).optional().meta({
    description: `http only (default "${H_.method}")`,
  }),
  status: z.int().min(100).max(599).optional().meta({
    description: `http only: expected status (default ${H_.status})`,
  }),
  headers: z.record(z.string(), z.string()).optional().meta({
    description: "http only: request headers",
  }),
  body: z.string().optional().meta({
    description: "http only: the request body sent with the check (default none)",
  }),
  fall_action: z.enum(["drain", "disable", "ignore"]).optional().meta({
    description: 'what a failing check does: "drain" (default: no new clients, stuck ones ' +
      'stay), "disable" (no connection at all) or "ignore" (logged only)',
  }),
};

export const backendShape = {
  address: z.string().meta({
    description: "host:port or [IPv6]:port; a host name expands to all its A/AAAA records. " +
      'Without a port ("10.0.0.5"): the port of the listener the client connected to',
  }),
  weight: z.int().min(0).optional().meta({ description: "relative weight (default 1)" }),
  tier: z.int().min(0).optional().meta({
    description:
      "failover tier: the lowest tier with a healthy backend takes the traffic (default 0)",
  }),
  drain: z.boolean().optional().meta({
    description: "true: takes no new connections; sticky clients stay (default false)",
  }),
  disabled: z.boolean().optional().meta({
    description: "true: configured but takes no connection at all (default false)",
  }),
  group: z.string().min(1).optional().meta({
    description: "hash identity shared across listeners: a client hashed to a group lands on " +
      "that group on every port (default: the backend's host)",
  }),
};

/** Per-service settings marked (D) in SPEC section 3 (also `defaults.*` in the main config). */
export const settingsShape = {
  balance: z.enum(BALANCE_NAMES).optional().meta({
    description: `balancing strategy (default ${S_.balance})`,
  }),
  hash_key: z.string().regex(new RegExp(HASH_KEY_PATTERN)).optional().meta({
    description: 'for balance = "hash": client_ip, "first_bytes:START-END" (END exclusive) or ' +
      '"client_ip+first_bytes:START-END"',
  }),
  connect_timeout: durationSchema.optional().meta({
    description: `dial timeout per backend (default ${formatDuration(S_.connectTimeoutMs)})`,
  }),
  connect_attempts: z.int().min(0).optional().meta({
    description: "backends tried before the client is closed (default 0: every backend)",
  }),
  connect_budget: durationSchema.optional().meta({
    description: `total time the connect attempts of one client may take (default ${
      formatDuration(S_.connectBudgetMs)
    })`,
  }),
  idle_timeout: durationSchema.optional().meta({
    description: `close a connection with no bytes either way (default ${
      formatDuration(S_.idleTimeoutMs)
    }; 0 = never)`,
  }),
  max_connections: z.int().min(0).optional().meta({
    description: `per listener, 0 = unlimited (default ${S_.maxConnections})`,
  }),
  proxy_protocol: z.enum(["", "v1", "v2"]).optional().meta({
    description: 'PROXY protocol header sent to backends: "", "v1" or "v2"',
  }),
};

export const serviceShape = {
  name: z.string().min(1).meta({ description: "service name" }),
  listener: listenerStringSchema.optional(),
  listeners: z.array(listenerStringSchema).min(1).optional().meta({
    description: "several LABEL:PORT listeners",
  }),
  // Validated entry by entry in service.ts, so one bad backend does not sink the service.
  backends: z.array(z.unknown()),
  proxy: z.string().optional().meta({
    description: 'SOCKS5 proxy for this service: "socks5://user:pass@host:port" or socks5h://',
  }),
  ...settingsShape,
  accept_proxy_protocol: z.boolean().optional().meta({
    description: "the listener expects a PROXY v1/v2 header from a trusted peer",
  }),
  trusted_proxies: z.array(z.string()).optional().meta({
    description: 'CIDRs allowed to send a PROXY header, e.g. "10.0.0.0/8"',
  }),
  // A list of checks is validated entry by entry in service.ts (field paths "health[1].rise").
  health: z.object(healthShape).optional().meta({
    description: "active health checks (a table, or a list of them); omitted = none",
  }),
  stick: z.object({
    expiration: durationSchema.meta({
      description: "idle time after which a client key may land elsewhere",
    }),
  }).optional().meta({
    description: "stick table: a client key's first pick is kept while it is used " +
      "(the key is the hash_key's; a new backend does not take stuck clients)",
  }),
  sni: z.array(z.string()).optional().meta({
    description: "TLS server names this service takes on a shared listener, e.g. " +
      '["db.example.com", "*.apps.example.com"] ("*." = one label); a service without sni ' +
      "on such a listener takes every other connection",
  }),
  sni_timeout: durationSchema.optional().meta({
    description: `on a listener routing by server name: how long a client may take to send ` +
      `its TLS ClientHello (default ${formatDuration(DEFAULTS.sni.timeoutMs)})`,
  }),
};

/** The published schema: strict objects so editors flag unknown keys (sluice itself warns). */
function routingJsonSchemaSource() {
  const backend = z.union([
    z.string().meta({ description: "host:port" }),
    z.strictObject(backendShape),
  ]);
  const service = z.strictObject({
    ...serviceShape,
    backends: z.array(backend).meta({ description: "the pool: strings or tables" }),
    health: z.union([
      z.strictObject(healthShape),
      z.array(z.strictObject(healthShape)).min(1),
    ]).optional().meta({
      description: "active health checks (a table, or a list of them); omitted = none",
    }),
    stick: z.strictObject({ expiration: durationSchema }).optional().meta({
      description: "stick table: a client key's first pick is kept while it is used",
    }),
  });
  return z.object({
    $schema: z.string().optional(),
    services: z.array(service).optional(),
  }).meta({
    title: "sluice routing document",
    description: "Services sluice routes (SPEC section 3); a superset of dill's routing schema.",
  });
}

/** The JSON Schema object of a routing document. */
export function routingJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(routingJsonSchemaSource(), { io: "input", unrepresentable: "any" });
}
