// Validation of raw service objects (from any provider) into ServiceSpecs, one problem per fault.
//
// Rules (SPEC section 3):
// - A service with a malformed field is dropped alone; each bad field gets one RouteProblem
//   naming the service, the field path and the reason.
// - A malformed backend entry is dropped alone with a problem and the service keeps the rest:
//   one typo must not take a whole pool down. When every entry of a non-empty `backends` list is
//   malformed, nothing the author meant is left, so the service is dropped.
// - An explicitly empty `backends = []` is valid: the listener opens and closes each connection
//   at once (a pool whose members all went away is a routing state, not a syntax error).
// - Unknown keys are a warning with a "did you mean" hint; the service is kept.
// - `listener` and `listeners` may both be given; their union is used.
import { z } from "zod";
import { errorMessage } from "../errors.ts";
import { parseDuration } from "../text/duration.ts";
import { describeIssue, show } from "../text/issues.ts";
import { hint } from "../text/did_you_mean.ts";
import { formatHostPort, isValidHost, parseHostPort, parsePort } from "../net/host_port.ts";
import { isIP } from "node:net";
import { checkCidr } from "../net/cidr.ts";
import { parseProxyUrl } from "./proxy_url.ts";
import { backendShape, healthShape, serviceShape } from "./schema.ts";
import type {
  AcceptSettings,
  BackendSpec,
  HashKey,
  HealthSpec,
  ListenerRef,
  ParsedDocument,
  ProxyUrl,
  RouteProblem,
  ServiceSettings,
  ServiceSpec,
} from "./types.ts";
import { DEFAULTS } from "../defaults.ts";

const serviceSchema = z.object(serviceShape);
const backendObjectSchema = z.object(backendShape);
const healthSchema = z.object(healthShape);

const DURATION_TEXT = 'a duration such as "250ms", "5s", "1m30s" or a number of seconds';
const EXPECTED_BY_KEY: Record<string, string> = {
  hash_key: '"client_ip", "first_bytes:START-END" or "client_ip+first_bytes:START-END"',
  listener: '"LABEL:PORT", e.g. "any:5432"',
  listeners: '"LABEL:PORT", e.g. "any:5432"',
  connect_timeout: DURATION_TEXT,
  idle_timeout: DURATION_TEXT,
  interval: DURATION_TEXT,
  expiration: DURATION_TEXT,
  timeout: DURATION_TEXT,
  path: 'a path starting with "/"',
  method: 'an upper-case HTTP method such as "GET"',
};

function expectedFor(path: readonly PropertyKey[]): string | undefined {
  for (let i = path.length - 1; i >= 0; i--) {
    const k = path[i];
    if (typeof k === "string") return EXPECTED_BY_KEY[k];
  }
  return undefined;
}

function fieldPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Health defaults for keys a `health` table leaves out. */
const HEALTH_DEFAULTS: Omit<HealthSpec, "type"> = {
  intervalMs: DEFAULTS.health.intervalMs,
  timeoutMs: DEFAULTS.health.timeoutMs,
  rise: DEFAULTS.health.rise,
  fall: DEFAULTS.health.fall,
  path: DEFAULTS.health.path,
  method: DEFAULTS.health.method,
  status: DEFAULTS.health.status,
  headers: {},
  body: DEFAULTS.health.body,
};

/**
 * Parses "client_ip" | "first_bytes:START-END" | "client_ip+first_bytes:START-END" (END
 * exclusive, START < END).
 */
export function parseHashKey(text: string): HashKey | string {
  if (text === "client_ip") return { kind: "client_ip" };
  const m = /^(client_ip\+)?first_bytes:(\d+)-(\d+)$/.exec(text);
  if (!m) {
    return `expected "client_ip", "first_bytes:START-END" or ` +
      `"client_ip+first_bytes:START-END", got ${show(text)}`;
  }
  const start = Number(m[2]);
  const end = Number(m[3]);
  if (!(start < end)) return `expected START < END in ${show(text)} (END is exclusive)`;
  if (end > 65536) return `expected END at most 65536 in ${show(text)}`;
  return { kind: m[1] ? "client_ip+first_bytes" : "first_bytes", start, end };
}

/**
 * A backend address without a port: an IP literal ("10.0.0.5", "[2001:db8::5]", "2001:db8::5")
 * or a dotted host name ("db.internal"). A bare word ("nope") stays an error: more likely a typo.
 */
function portlessHost(address: string): string | undefined {
  const a = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  if (isIP(a) !== 0) return a;
  if (a.includes(".") && !a.includes(":") && isValidHost(a)) return a.replace(/\.$/, "");
  return undefined;
}

/** Normalises "10.0.0.0/8" (a bare IP means one host); a string is the reason it is invalid. */
function parseCidr(text: string): string | { cidr: string } {
  return checkCidr(text);
}

/** Resolves a validated raw health table, defaults applied (durations already validated). */
export function healthFromRaw(raw: z.infer<typeof healthSchema>, path: string): HealthSpec {
  const out: HealthSpec = {
    type: raw.type ?? "tcp",
    intervalMs: raw.interval === undefined
      ? HEALTH_DEFAULTS.intervalMs
      : parseDuration(raw.interval, `${path}.interval`),
    // Unset: half the interval (tcpffee's default), so a check ends before the next one.
    timeoutMs: raw.timeout === undefined
      ? (raw.interval === undefined
        ? HEALTH_DEFAULTS.timeoutMs
        : Math.max(1, Math.floor(parseDuration(raw.interval, `${path}.interval`) / 2)))
      : parseDuration(raw.timeout, `${path}.timeout`),
    rise: raw.rise ?? HEALTH_DEFAULTS.rise,
    fall: raw.fall ?? HEALTH_DEFAULTS.fall,
    path: raw.path ?? HEALTH_DEFAULTS.path,
    method: raw.method ?? HEALTH_DEFAULTS.method,
    status: raw.status ?? HEALTH_DEFAULTS.status,
    headers: raw.headers ?? HEALTH_DEFAULTS.headers,
    body: raw.body ?? HEALTH_DEFAULTS.body,
  };
  return raw.fall_action === undefined ? out : { ...out, fallAction: raw.fall_action };
}

const HEALTH_KEYS: readonly string[] = Object.keys(healthShape);
const SERVICE_KEYS: readonly string[] = Object.keys(serviceShape);
const BACKEND_KEYS: readonly string[] = Object.keys(backendShape);

interface Ctx {
  readonly service: string;
  readonly source: string;
  readonly problems: RouteProblem[];
}

function problem(ctx: Ctx, field: string, reason: string): void {
  ctx.problems.push({ service: ctx.service, field, reason, source: ctx.source });
}

function warnUnknownKeys(
  ctx: Ctx,
  raw: Record<string, unknown>,
  known: readonly string[],
  prefix: string,
): void {
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) {
      problem(ctx, fieldPath(prefix, [key]), `unknown key, ignored${hint(key, known)}`);
    }
  }
}

function parseListenerRef(text: string): ListenerRef | string {
  const colon = text.lastIndexOf(":");
  const label = text.slice(0, colon);
  const port = parsePort(text.slice(colon + 1));
  if (colon <= 0 || port === undefined || /\s/.test(label)) {
    return `expected "LABEL:PORT" with a port from 1 to 65535, e.g. "any:5432", got ${show(text)}`;
  }
  return { label, port };
}

function parseBackend(ctx: Ctx, raw: unknown, i: number): BackendSpec | undefined {
  const at = `backends[${i}]`;
  let address: string;
  let weight = 1;
  let tier = 0;
  let drain = false;
  let disabled = false;
  let group: string | undefined;
  if (typeof raw === "string") {
    address = raw;
  } else if (isPlainObject(raw)) {
    warnUnknownKeys(ctx, raw, BACKEND_KEYS, at);
    const r = backendObjectSchema.safeParse(raw, { reportInput: true });
    if (!r.success) {
      for (const issue of r.error.issues) {
        problem(
          ctx,
          fieldPath(at, issue.path),
          `${describeIssue(issue, expectedFor)}; backend dropped`,
        );
      }
      return undefined;
    }
    address = r.data.address;
    weight = r.data.weight ?? 1;
    tier = r.data.tier ?? 0;
    drain = r.data.drain ?? false;
    disabled = r.data.disabled ?? false;
    group = r.data.group;
  } else {
    problem(
      ctx,
      at,
      `expected "host:port" or a table with "address", got ${show(raw)}; backend dropped`,
    );
    return undefined;
  }
  const extra = { ...(disabled ? { disabled } : {}), ...(group !== undefined ? { group } : {}) };
  const bare = portlessHost(address.trim());
  if (bare !== undefined) {
    const text = bare.includes(":") ? `[${bare}]` : bare;
    return { address: text, host: bare, port: 0, weight, tier, drain, ...extra };
  }
  try {
    const { host, port } = parseHostPort(address.trim());
    return { address: formatHostPort(host, port), host, port, weight, tier, drain, ...extra };
  } catch (err) {
    const field = typeof raw === "string" ? at : `${at}.address`;
    problem(ctx, field, `${errorMessage(err)}; backend dropped`);
    return undefined;
  }
}

/** One raw service object (at `index` in its list) to a ServiceSpec; its problems are appended. */
export function validateService(
  raw: unknown,
  index: number,
  source: string,
  problems: RouteProblem[],
): ServiceSpec | undefined {
  const name = isPlainObject(raw) && typeof raw.name === "string" && raw.name !== ""
    ? raw.name
    : `#${index}`;
  const ctx: Ctx = { service: name, source, problems };
  if (!isPlainObject(raw)) {
    problem(ctx, "", `expected a service table, got ${show(raw)}; service dropped`);
    return undefined;
  }
  warnUnknownKeys(ctx, raw, SERVICE_KEYS, "");
  if (isPlainObject(raw.health)) warnUnknownKeys(ctx, raw.health, HEALTH_KEYS, "health");
  if (Array.isArray(raw.health)) {
    raw.health.forEach((h, i) => {
      if (isPlainObject(h)) warnUnknownKeys(ctx, h, HEALTH_KEYS, `health[${i}]`);
    });
  }

  // Several checks: each validated as a `health` table, with its index in the field path.
  const list = Array.isArray(raw.health) ? raw.health : undefined;
  const checks: z.infer<typeof healthSchema>[] = [];
  let bad = list !== undefined && list.length === 0;
  if (bad) problem(ctx, "health", "expected at least one check; service dropped");
  list?.forEach((h, i) => {
    const c = healthSchema.safeParse(h, { reportInput: true });
    if (c.success) return void checks.push(c.data);
    bad = true;
    for (const issue of c.error.issues) {
      problem(
        ctx,
        fieldPath(`health[${i}]`, issue.path),
        `${describeIssue(issue, expectedFor)}; service dropped`,
      );
    }
  });
  const r = serviceSchema.safeParse(list ? { ...raw, health: undefined } : raw, {
    reportInput: true,
  });
  if (!r.success) {
    for (const issue of r.error.issues) {
      problem(
        ctx,
        fieldPath("", issue.path),
        `${describeIssue(issue, expectedFor)}; service dropped`,
      );
    }
    return undefined;
  }
  if (bad) return undefined;
  const d = r.data;
  let fatal = false;
  const dropped = (field: string, reason: string) => {
    fatal = true;
    problem(ctx, field, `${reason}; service dropped`);
  };

  // Listeners: `listener` and/or `listeners`, de-duplicated in order.
  const listenerTexts: { text: string; field: string }[] = [];
  if (d.listener !== undefined) listenerTexts.push({ text: d.listener, field: "listener" });
  d.listeners?.forEach((text, i) => listenerTexts.push({ text, field: `listeners[${i}]` }));
  if (listenerTexts.length === 0) {
    dropped("listener", 'missing (expected "LABEL:PORT", e.g. "any:5432")');
  }
  const listeners: ListenerRef[] = [];
  for (const { text, field } of listenerTexts) {
    const ref = parseListenerRef(text);
    if (typeof ref === "string") dropped(field, ref);
    else if (!listeners.some((l) => l.label === ref.label && l.port === ref.port)) {
      listeners.push(ref);
    }
  }

  let proxy: ProxyUrl | undefined;
  if (d.proxy !== undefined && d.proxy !== "") {
    try {
      proxy = parseProxyUrl(d.proxy);
    } catch (err) {
      dropped("proxy", errorMessage(err));
    }
  }

  const settings: { -readonly [K in keyof ServiceSettings]?: ServiceSettings[K] } = {};
  if (d.balance !== undefined) settings.balance = d.balance;
  if (d.hash_key !== undefined) {
    const k = parseHashKey(d.hash_key);
    if (typeof k === "string") dropped("hash_key", k);
    else settings.hashKey = k;
  }
  if (d.connect_timeout !== undefined) {
    settings.connectTimeoutMs = parseDuration(d.connect_timeout, "connect_timeout");
    if (settings.connectTimeoutMs <= 0) dropped("connect_timeout", "expected a duration above 0");
  }
  if (d.connect_attempts !== undefined) settings.connectAttempts = d.connect_attempts;
  if (d.idle_timeout !== undefined) {
    settings.idleTimeoutMs = parseDuration(d.idle_timeout, "idle_timeout");
  }
  if (d.max_connections !== undefined) settings.maxConnections = d.max_connections;
  if (d.proxy_protocol !== undefined) settings.proxyProtocol = d.proxy_protocol;
  if (list) settings.health = checks.map((h, i) => healthFromRaw(h, `health[${i}]`));
  else if (d.health !== undefined) settings.health = healthFromRaw(d.health, "health");
  if (d.stick !== undefined) {
    const expirationMs = parseDuration(d.stick.expiration, "stick.expiration");
    if (expirationMs <= 0) dropped("stick.expiration", "expected a duration above 0");
    else settings.stick = { expirationMs };
  }

  const accept: { -readonly [K in keyof AcceptSettings]?: AcceptSettings[K] } = {};
  if (d.accept_proxy_protocol !== undefined) accept.acceptProxyProtocol = d.accept_proxy_protocol;
  if (d.trusted_proxies !== undefined) {
    const cidrs: string[] = [];
    d.trusted_proxies.forEach((text, i) => {
      const c = parseCidr(text);
      if (typeof c === "string") dropped(`trusted_proxies[${i}]`, c);
      else cidrs.push(c.cidr);
    });
    accept.trustedProxies = cidrs;
  }

  const backends: BackendSpec[] = [];
  d.backends.forEach((b, i) => {
    const spec = parseBackend(ctx, b, i);
    if (spec) backends.push(spec);
  });
  if (d.backends.length > 0 && backends.length === 0) dropped("backends", "no valid backend left");

  if (fatal) return undefined;
  const spec: ServiceSpec = proxy === undefined
    ? { name, listeners, backends, settings, accept }
    : { name, listeners, backends, proxy, settings, accept };
  return spec;
}

/**
 * Validates raw service objects (SPEC section 3 schema) from `source` (a file path, "consul",
 * "http:https://..."). Invalid services are dropped alone; see the rules at the top of the file.
 * Pure: createServiceValidator() (validator.ts) gives the same result while reusing earlier work.
 */
export function validateServices(raw: readonly unknown[], source: string): ParsedDocument {
  const services: ServiceSpec[] = [];
  const problems: RouteProblem[] = [];
  raw.forEach((r, i) => {
    const spec = validateService(r, i, source, problems);
    if (spec) services.push(spec);
  });
  return { services, problems };
}
