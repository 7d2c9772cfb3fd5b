// The zod schema of the main config file (SPEC section 2), as written: snake_case keys, every
// key optional. load.ts applies defaults and turns it into the typed Config.
import { z } from "zod";
import { durationSchema, healthShape, settingsShape } from "../routing/schema.ts";
import { BYTE_SIZE_PATTERN } from "../text/byte_size.ts";
import { formatDuration } from "../text/duration.ts";
import { DEFAULTS, EXAMPLE_PEEK_LISTENER } from "../defaults.ts";

const L = DEFAULTS.listeners;
const R = DEFAULTS.routing;
const d = (ms: number) => formatDuration(ms);

const port = z.int().min(1).max(65535);

const tlsSchema = z.strictObject({
  ca: z.string().optional().meta({ description: "PEM file of the CA that signs the server" }),
  cert: z.string().optional().meta({ description: "PEM client certificate" }),
  key: z.string().optional().meta({ description: "PEM client key" }),
  insecure: z.boolean().optional().meta({ description: "skip verifying the server certificate" }),
});

const sizeSchema = z.union([z.string().regex(new RegExp(BYTE_SIZE_PATTERN)), z.int().min(0)])
  .meta({ description: 'bytes, or "512KiB", "4MiB"' });

export const configSchema = z.strictObject({
  listeners: z.strictObject({
    allowed: z.record(z.string(), z.string()).optional().meta({
      description: 'label -> IP that routes may bind to, e.g. {local = "127.0.0.1", v6 = "::"}',
    }),
    port_min: port.optional().meta({
      description: `lowest port a route may bind, inclusive (default ${L.portMin})`,
    }),
    port_max: port.optional().meta({
      description: `highest port a route may bind, inclusive (default ${L.portMax})`,
    }),
    drain_timeout: durationSchema.optional().meta({
      description: `time connections get to finish on shutdown (default ${d(L.drainTimeoutMs)})`,
    }),
    bind_retry: durationSchema.optional().meta({
      description: `delay before retrying a port that failed to bind (default ${d(L.bindRetryMs)})`,
    }),
    half_close_timeout: durationSchema.optional().meta({
      description: `a half-closed connection idle this long is closed; 0 = never (default ${
        d(L.halfCloseTimeoutMs)
      })`,
    }),
  }).optional(),
  peek: z.strictObject({
    listener: z.string().optional().meta({
      description:
        `HOST:PORT of the peek endpoint, e.g. "${EXAMPLE_PEEK_LISTENER}" (default "": off)`,
    }),
  }).optional(),
  admin: z.strictObject({
    listener: z.string().optional().meta({
      description: `HOST:PORT of the admin API, "" = off (default "${DEFAULTS.admin.listener}")`,
    }),
    token: z.string().optional().meta({
      description: "bearer token; required when the listener is not loopback",
    }),
  }).optional(),
  log: z.strictObject({
    level: z.enum(["debug", "info", "warn", "error"]).optional(),
    format: z.enum(["text", "json"]).optional(),
    access: z.boolean().optional(),
  }).optional(),
  defaults: z.strictObject({
    ...settingsShape,
    health: z.union([z.literal("none"), z.strictObject(healthShape)]).optional(),
  }).optional(),
  runtime: z.strictObject({
    workers: z.int().min(1).max(1024).optional().meta({
      description: `processes sharing the listeners (default ${DEFAULTS.runtime.workers})`,
    }),
    gomaxprocs: z.int().min(1).max(1024).optional().meta({
      description: "dill's name for workers",
    }),
    pid_file: z.string().optional().meta({
      description:
        'file the process ID is written to at start and removed from at exit ("" = none)',
    }),
    state_file: z.string().optional().meta({
      description: "file the stick table and health states are saved to at intervals and " +
        'restored from at start (default "": none)',
    }),
    state_interval: durationSchema.optional().meta({
      description: `time between saves of state_file (default ${
        d(DEFAULTS.runtime.stateIntervalMs)
      })`,
    }),
  }).optional(),
  dns: z.strictObject({
    refresh_without_ttl: durationSchema.optional().meta({
      description:
        `re-resolution interval of a backend name whose answer has no TTL (/etc/hosts) (default ${
          d(DEFAULTS.dns.refreshWithoutTtlMs)
        })`,
    }),
  }).optional(),
  routing: z.strictObject({
    file: z.strictObject({
      path: z.string().min(1),
      watch: z.boolean().optional(),
      max_bytes: sizeSchema.optional(),
    }).optional(),
    http: z.strictObject({
      endpoint: z.string().min(1),
      poll_interval: durationSchema.optional().meta({
        description: `time between polls (default ${d(R.http.pollIntervalMs)})`,
      }),
      poll_timeout: durationSchema.optional().meta({
        description: `time a poll may take (default ${d(R.http.pollTimeoutMs)})`,
      }),
      headers: z.record(z.string(), z.string()).optional(),
      max_bytes: sizeSchema.optional(),
      tls: tlsSchema.optional(),
    }).optional(),
    consul: z.strictObject({
      address: z.string().min(1),
      token: z.string().optional(),
      datacenter: z.string().optional(),
      namespace: z.string().optional(),
      wait: durationSchema.optional().meta({
        description: `longest blocking query (default ${d(R.consul.waitMs)})`,
      }),
      // "" is dill's "no parameter"; sluice reads it as its default, stale.
      consistency_mode: z.enum(["stale", "consistent", "leader", ""]).optional(),
      tag: z.string().min(1).optional(),
      max_bytes: sizeSchema.optional(),
      tls: tlsSchema.optional(),
    }).optional(),
    nomad: z.strictObject({
      address: z.string().min(1),
      token: z.string().optional(),
      namespace: z.string().optional(),
      wait: durationSchema.optional().meta({
        description: `longest blocking query (default ${d(R.nomad.waitMs)})`,
      }),
      stale: z.boolean().optional(),
      tag: z.string().min(1).optional(),
      max_bytes: sizeSchema.optional(),
      tls: tlsSchema.optional(),
    }).optional(),
  }).optional(),
}).meta({ title: "sluice main configuration" });

export type RawConfig = z.infer<typeof configSchema>;

/** The JSON Schema of the main config file. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" });
}

export type LeafKind = "string" | "number" | "boolean" | "record" | "string_or_number";

function unwrap(s: z.ZodType): z.ZodType {
  let cur = s;
  while (cur instanceof z.ZodOptional || cur instanceof z.ZodDefault) {
    cur = cur.unwrap() as z.ZodType;
  }
  return cur;
}

/** Every key path of the schema with the type an environment string must be coerced to. */
export function schemaLeaves(): Map<string, LeafKind> {
  const out = new Map<string, LeafKind>();
  const walk = (s: z.ZodType, path: string) => {
    const t = unwrap(s);
    if (t instanceof z.ZodObject) {
      for (const [k, v] of Object.entries(t.shape as Record<string, z.ZodType>)) {
        walk(v, path ? `${path}.${k}` : k);
      }
    } else if (t instanceof z.ZodUnion) {
      const options = t.options as z.ZodType[];
      const kinds = new Set<string>();
      for (const o of options) {
        const u = unwrap(o);
        if (u instanceof z.ZodObject) walk(u, path);
        else kinds.add(u instanceof z.ZodNumber ? "number" : "string");
      }
      out.set(path, kinds.has("number") ? "string_or_number" : "string");
    } else if (t instanceof z.ZodNumber) out.set(path, "number");
    else if (t instanceof z.ZodBoolean) out.set(path, "boolean");
    else if (t instanceof z.ZodRecord) out.set(path, "record");
    else out.set(path, "string");
  };
  walk(configSchema, "");
  return out;
}

/** The keys a table at `path` may hold ([] when `path` is not a table). */
export function keysAt(path: readonly PropertyKey[]): string[] {
  let cur: z.ZodType = configSchema;
  for (const p of path) {
    let t = unwrap(cur);
    if (t instanceof z.ZodUnion) {
      t = (t.options as z.ZodType[]).map(unwrap).find((o) => o instanceof z.ZodObject) ?? t;
    }
    if (!(t instanceof z.ZodObject)) return [];
    const next = (t.shape as Record<string, z.ZodType>)[String(p)];
    if (!next) return [];
    cur = next;
  }
  let t = unwrap(cur);
  if (t instanceof z.ZodUnion) {
    t = (t.options as z.ZodType[]).map(unwrap).find((o) => o instanceof z.ZodObject) ?? t;
  }
  return t instanceof z.ZodObject ? Object.keys(t.shape) : [];
}
