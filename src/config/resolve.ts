// Resolution of the validated main config: defaults applied, durations and sizes parsed, paths
// made absolute, listen addresses parsed once, TLS files read through the loader's `readText`.
// Problems go to the Collector; nothing here does I/O of its own.
import { dirname, isAbsolute, resolve } from "node:path";
import { isIP } from "node:net";
import { errorMessage } from "../errors.ts";
import type { LogFormat, LogLevel } from "../log.ts";
import { checkProviderUrl } from "../net/url.ts";
import type { HostPort } from "../net/host_port.ts";
import type { HashKey, ServiceSettings } from "../routing/types.ts";
import { healthFromRaw, parseHashKey } from "../routing/service_fields.ts";
import { parseByteSize } from "../text/byte_size.ts";
import { parseDuration } from "../text/duration.ts";
import { show } from "../text/issues.ts";
import { formatFromPath } from "../text/text_format.ts";
import { redactUserinfo } from "../text/redact.ts";
import { DEFAULTS, EXAMPLE_PEEK_LISTENER } from "../defaults.ts";
import { adminExposureProblem, parseListenAddress } from "./exposure.ts";
import type { Collector } from "./problems.ts";
import type { RawConfig } from "./schema.ts";
import type {
  Config,
  ConsulProviderConfig,
  HttpProviderConfig,
  NomadProviderConfig,
  TlsFiles,
} from "./types.ts";

/** Reads a file's text (given by the loader: resolution itself does no I/O). */
export type ReadText = (path: string) => Promise<string>;

const S = DEFAULTS.settings;

/** Every default of SPEC section 2 and section 3 (D), resolved. */
export const DEFAULT_SETTINGS: ServiceSettings = {
  balance: S.balance,
  hashKey: { kind: S.hashKey },
  connectTimeoutMs: S.connectTimeoutMs,
  connectAttempts: S.connectAttempts,
  connectBudgetMs: S.connectBudgetMs,
  idleTimeoutMs: S.idleTimeoutMs,
  maxConnections: S.maxConnections,
  proxyProtocol: S.proxyProtocol,
  health: undefined,
};

export const DEFAULT_CONFIG: Config = {
  listeners: { ...DEFAULTS.listeners, allowed: { ...DEFAULTS.listeners.allowed } },
  peek: { listener: DEFAULTS.peek.listener },
  admin: {
    listener: DEFAULTS.admin.listener,
    token: DEFAULTS.admin.token,
    address: parseListenAddress(DEFAULTS.admin.listener) as HostPort,
  },
  log: { ...DEFAULTS.log },
  defaults: DEFAULT_SETTINGS,
  runtime: { ...DEFAULTS.runtime },
  dns: { ...DEFAULTS.dns },
  routing: {},
};

async function readPem(
  c: Collector,
  readText: ReadText,
  full: string,
  key: string,
): Promise<string | undefined> {
  try {
    const text = await readText(full);
    if (!text.includes("-----BEGIN ")) {
      c.add(key, `"${full}" is not a PEM file (expected "-----BEGIN ...")`);
      return undefined;
    }
    return text;
  } catch (err) {
    c.add(key, `cannot read "${full}": ${errorMessage(err)}`);
    return undefined;
  }
}

type RawTls = {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  insecure?: boolean | undefined;
};

async function resolveTls(
  c: Collector,
  readText: ReadText,
  base: string | undefined,
  raw: RawTls | undefined,
  at: string,
): Promise<TlsFiles> {
  const out: { -readonly [K in keyof TlsFiles]: TlsFiles[K] } = {
    insecure: raw?.insecure ?? false,
  };
  if (!raw) return out;
  if ((raw.cert === undefined || raw.cert === "") !== (raw.key === undefined || raw.key === "")) {
    c.add(
      `${at}.${raw.cert ? "key" : "cert"}`,
      "a client certificate needs both tls.cert and tls.key",
    );
  }
  for (const k of ["ca", "cert", "key"] as const) {
    const p = raw[k];
    if (p === undefined || p === "") continue;
    const full = base && !isAbsolute(p) ? resolve(base, p) : p;
    const pem = await readPem(c, readText, full, `${at}.${k}`);
    out[`${k}Path`] = full;
    if (pem !== undefined) out[k] = pem;
  }
  return out;
}

function httpUrl(c: Collector, text: string, at: string): string {
  const r = checkProviderUrl(text);
  if (typeof r === "string") {
    c.add(at, r);
    return text;
  }
  return r.url;
}

/** `{ maxBytes }` when the size key is set and parses, else nothing (the provider's default). */
function optionalSize(
  c: Collector,
  v: string | number | undefined,
  path: string,
): { maxBytes?: number } {
  if (v === undefined) return {};
  const n = c.try(() => parseByteSize(v, path));
  return n === undefined ? {} : { maxBytes: n };
}

function dur(c: Collector, v: unknown, path: string, dflt: number): number {
  return c.duration(parseDuration, v, path, dflt);
}

function resolveDefaults(
  c: Collector,
  d: NonNullable<RawConfig["defaults"]> | undefined,
): ServiceSettings {
  if (!d) return DEFAULT_SETTINGS;
  let hashKey: HashKey = DEFAULT_SETTINGS.hashKey;
  if (d.hash_key !== undefined) {
    const k = parseHashKey(d.hash_key);
    if (typeof k === "string") c.add("defaults.hash_key", k);
    else hashKey = k;
  }
  const connectTimeoutMs = dur(
    c,
    d.connect_timeout,
    "defaults.connect_timeout",
    DEFAULT_SETTINGS.connectTimeoutMs,
  );
  if (connectTimeoutMs <= 0) c.add("defaults.connect_timeout", "expected a duration above 0");
  return {
    balance: d.balance ?? DEFAULT_SETTINGS.balance,
    hashKey,
    connectTimeoutMs,
    connectAttempts: d.connect_attempts ?? DEFAULT_SETTINGS.connectAttempts,
    connectBudgetMs: dur(
      c,
      d.connect_budget,
      "defaults.connect_budget",
      DEFAULT_SETTINGS.connectBudgetMs,
    ),
    idleTimeoutMs: dur(c, d.idle_timeout, "defaults.idle_timeout", DEFAULT_SETTINGS.idleTimeoutMs),
    maxConnections: d.max_connections ?? DEFAULT_SETTINGS.maxConnections,
    proxyProtocol: d.proxy_protocol ?? DEFAULT_SETTINGS.proxyProtocol,
    health: d.health === undefined || d.health === "none"
      ? undefined
      : c.try(() =>
        healthFromRaw(d.health as Exclude<typeof d.health, "none" | undefined>, "defaults.health")
      ),
  };
}

/** A listen address ("" = off) parsed once, here; the problem is recorded when malformed. */
function listenAddress(
  c: Collector,
  key: string,
  text: string,
  example: string,
): HostPort | undefined {
  if (text === "") return undefined;
  const a = parseListenAddress(text);
  if (!a) {
    c.add(key, `expected "" (off) or HOST:PORT such as ${show(example)}, got ${show(text)}`);
  }
  return a;
}

function resolveRouting(
  c: Collector,
  readText: ReadText,
  base: string | undefined,
  r: NonNullable<RawConfig["routing"]>,
): Promise<Config["routing"]> {
  return (async () => {
    const routing: { -readonly [K in keyof Config["routing"]]: Config["routing"][K] } = {};
    const R = DEFAULTS.routing;
    if (r.file) {
      const p = r.file.path;
      if (!formatFromPath(p)) {
        c.add("routing.file.path", `expected a .toml, .yaml, .yml or .json file, got ${show(p)}`);
      }
      routing.file = {
        path: base && !isAbsolute(p) ? resolve(base, p) : p,
        watch: r.file.watch ?? R.file.watch,
        // Unset: the provider uses DEFAULTS.routing.file.maxBytes.
        ...optionalSize(c, r.file.max_bytes, "routing.file.max_bytes"),
      };
    }
    if (r.http) {
      const h = r.http;
      const endpoint = h.endpoint;
      let scheme = "";
      try {
        scheme = new URL(endpoint).protocol;
      } catch {
        // reported below
      }
      if (scheme !== "http:" && scheme !== "https:") {
        c.add(
          "routing.http.endpoint",
          `expected an http:// or https:// URL, got ${show(redactUserinfo(endpoint))}`,
        );
      }
      const http: HttpProviderConfig = {
        endpoint,
        pollIntervalMs: dur(
          c,
          h.poll_interval,
          "routing.http.poll_interval",
          R.http.pollIntervalMs,
        ),
        pollTimeoutMs: dur(c, h.poll_timeout, "routing.http.poll_timeout", R.http.pollTimeoutMs),
        headers: h.headers ?? {},
        maxBytes: h.max_bytes === undefined
          ? R.http.maxBytes
          : c.try(() => parseByteSize(h.max_bytes, "routing.http.max_bytes")) ?? R.http.maxBytes,
        tls: await resolveTls(c, readText, base, h.tls, "routing.http.tls"),
      };
      if (http.pollIntervalMs <= 0) {
        c.add("routing.http.poll_interval", "expected a duration above 0");
      }
      if (http.pollTimeoutMs <= 0) {
        c.add("routing.http.poll_timeout", "expected a duration above 0");
      }
      routing.http = http;
    }
    if (r.consul) {
      const k = r.consul;
      const consul: ConsulProviderConfig = {
        address: httpUrl(c, k.address, "routing.consul.address"),
        token: k.token ?? "",
        datacenter: k.datacenter ?? "",
        namespace: k.namespace ?? "",
        waitMs: dur(c, k.wait, "routing.consul.wait", R.consul.waitMs),
        consistencyMode: k.consistency_mode === undefined || k.consistency_mode === ""
          ? R.consul.consistencyMode
          : k.consistency_mode,
        tag: k.tag ?? R.consul.tag,
        ...(k.tag === undefined ? { legacyTags: R.legacyTags } : {}),
        tls: await resolveTls(c, readText, base, k.tls, "routing.consul.tls"),
        ...optionalSize(c, k.max_bytes, "routing.consul.max_bytes"),
      };
      routing.consul = consul;
    }
    if (r.nomad) {
      const n = r.nomad;
      const nomad: NomadProviderConfig = {
        address: httpUrl(c, n.address, "routing.nomad.address"),
        token: n.token ?? "",
        namespace: n.namespace ?? R.nomad.namespace,
        waitMs: dur(c, n.wait, "routing.nomad.wait", R.nomad.waitMs),
        stale: n.stale ?? R.nomad.stale,
        tag: n.tag ?? R.nomad.tag,
        ...(n.tag === undefined ? { legacyTags: R.legacyTags } : {}),
        tls: await resolveTls(c, readText, base, n.tls, "routing.nomad.tls"),
        ...optionalSize(c, n.max_bytes, "routing.nomad.max_bytes"),
      };
      routing.nomad = nomad;
    }
    return routing;
  })();
}

/** The typed Config of a schema-valid raw config; problems are recorded in `c`. */
export async function resolveConfig(
  c: Collector,
  raw: RawConfig,
  source: string | undefined,
  readText: ReadText,
): Promise<Config> {
  const base = source === undefined ? undefined : dirname(resolve(source));
  const L = DEFAULTS.listeners;

  const l = raw.listeners ?? {};
  const allowed = l.allowed ?? L.allowed;
  for (const [label, ip] of Object.entries(allowed)) {
    const at = `listeners.allowed.${label}`;
    if (label === "" || /[:\s]/.test(label)) {
      c.add(at, `label ${show(label)} may not be empty or hold ":" or spaces`);
    }
    if (isIP(ip) === 0) {
      c.add(at, `expected an IPv4 or IPv6 address such as "127.0.0.1" or "::", got ${show(ip)}`);
    }
  }
  const portMin = l.port_min ?? L.portMin;
  const portMax = l.port_max ?? L.portMax;
  if (portMin > portMax) {
    c.add(
      "listeners.port_min",
      `expected port_min (${portMin}) <= port_max (${portMax}); both are inclusive`,
    );
  }
  const bindRetryMs = dur(c, l.bind_retry, "listeners.bind_retry", L.bindRetryMs);
  if (bindRetryMs <= 0) c.add("listeners.bind_retry", "expected a duration above 0");

  const peekListener = raw.peek?.listener ?? DEFAULTS.peek.listener;
  const peekAddress = listenAddress(c, "peek.listener", peekListener, EXAMPLE_PEEK_LISTENER);
  const adminListener = raw.admin?.listener ?? DEFAULTS.admin.listener;
  const adminToken = raw.admin?.token ?? DEFAULTS.admin.token;
  const adminAddress = listenAddress(c, "admin.listener", adminListener, DEFAULTS.admin.listener);
  if (adminAddress) {
    const problem = adminExposureProblem(adminListener, adminAddress, adminToken);
    if (problem) c.add("admin.listener", problem);
  }

  const routing = await resolveRouting(c, readText, base, raw.routing ?? {});
  const pidFile = raw.runtime?.pid_file ?? DEFAULTS.runtime.pidFile;
  const dnsRefresh = dur(
    c,
    raw.dns?.refresh_without_ttl,
    "dns.refresh_without_ttl",
    DEFAULTS.dns.refreshWithoutTtlMs,
  );
  if (dnsRefresh <= 0) c.add("dns.refresh_without_ttl", "expected a duration above 0");

  return {
    ...(source !== undefined ? { source } : {}),
    listeners: {
      allowed: { ...allowed },
      portMin,
      portMax,
      drainTimeoutMs: dur(c, l.drain_timeout, "listeners.drain_timeout", L.drainTimeoutMs),
      bindRetryMs,
      halfCloseTimeoutMs: dur(
        c,
        l.half_close_timeout,
        "listeners.half_close_timeout",
        L.halfCloseTimeoutMs,
      ),
    },
    peek: { listener: peekListener, ...(peekAddress ? { address: peekAddress } : {}) },
    admin: {
      listener: adminListener,
      token: adminToken,
      ...(adminAddress ? { address: adminAddress } : {}),
    },
    log: {
      level: (raw.log?.level ?? DEFAULTS.log.level) as LogLevel,
      format: (raw.log?.format ?? DEFAULTS.log.format) as LogFormat,
      access: raw.log?.access ?? DEFAULTS.log.access,
    },
    defaults: resolveDefaults(c, raw.defaults),
    runtime: {
      workers: raw.runtime?.workers ?? raw.runtime?.gomaxprocs ?? DEFAULTS.runtime.workers,
      pidFile: pidFile === "" || !base || isAbsolute(pidFile) ? pidFile : resolve(base, pidFile),
      stateFile: raw.runtime?.state_file ?? DEFAULTS.runtime.stateFile,
      stateIntervalMs: Math.max(
        1,
        dur(
          c,
          raw.runtime?.state_interval,
          "runtime.state_interval",
          DEFAULTS.runtime.stateIntervalMs,
        ),
      ),
    },
    dns: {
      refreshWithoutTtlMs: dnsRefresh,
    },
    routing,
  };
}
