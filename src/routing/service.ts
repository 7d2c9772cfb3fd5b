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
import { formatHostPort, parseHostPort } from "../net/host_port.ts";
import { parseProxyUrl } from "./proxy_url.ts";
import { normalizeSniName } from "./sni_match.ts";
import { backendShape, healthShape, serviceShape } from "./schema.ts";
import {
  healthFromRaw,
  healthSchema,
  parseCidr,
  parseHashKey,
  parseListenerRef,
  portlessHost,
} from "./service_fields.ts";
import type {
  AcceptSettings,
  BackendSpec,
  ListenerRef,
  ParsedDocument,
  ProxyUrl,
  RouteProblem,
  ServiceSettings,
  ServiceSpec,
} from "./types.ts";

const serviceSchema = z.object(serviceShape);
const backendObjectSchema = z.object(backendShape);

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
  if (d.connect_budget !== undefined) {
    settings.connectBudgetMs = parseDuration(d.connect_budget, "connect_budget");
    if (settings.connectBudgetMs <= 0) dropped("connect_budget", "expected a duration above 0");
  }
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

  // `sni`: each name canonical; a malformed one is dropped alone, as a backend is.
  let sni: string[] | undefined;
  if (d.sni !== undefined && d.sni.length > 0) {
    sni = [];
    d.sni.forEach((text, i) => {
      const name = normalizeSniName(text.trim());
      if (name === null) {
        problem(
          ctx,
          `sni[${i}]`,
          `expected a host name or a "*." wildcard of one label, got ${show(text)}; name dropped`,
        );
      } else if (!sni!.includes(name)) sni!.push(name);
    });
    if (sni.length === 0) dropped("sni", "no valid name left");
  }
  let sniTimeoutMs: number | undefined;
  if (d.sni_timeout !== undefined) {
    sniTimeoutMs = parseDuration(d.sni_timeout, "sni_timeout");
    if (sniTimeoutMs <= 0) dropped("sni_timeout", "expected a duration above 0");
  }

  const backends: BackendSpec[] = [];
  d.backends.forEach((b, i) => {
    const spec = parseBackend(ctx, b, i);
    if (spec) backends.push(spec);
  });
  if (d.backends.length > 0 && backends.length === 0) dropped("backends", "no valid backend left");

  if (fatal) return undefined;
  const spec: ServiceSpec = {
    name,
    listeners,
    backends,
    ...(proxy === undefined ? {} : { proxy }),
    settings,
    accept,
    ...(sni === undefined ? {} : { sni }),
    ...(sniTimeoutMs === undefined ? {} : { sniTimeoutMs }),
  };
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
