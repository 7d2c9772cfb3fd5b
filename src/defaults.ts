// Every default of sluice, declared once (SPEC sections 2 and 3, the keys marked (D)). The
// loader, the schema descriptions, `sluice bootstrap`, routing's health defaults and the
// engine's fallbacks all read them from here. Plain data with no imports, so any layer may
// use it; durations in milliseconds, sizes in bytes.

export const DEFAULTS = {
  listeners: {
    allowed: { local: "127.0.0.1", any: "0.0.0.0" } as Readonly<Record<string, string>>,
    portMin: 1024,
    portMax: 49151,
    drainTimeoutMs: 30_000,
    bindRetryMs: 5_000,
    halfCloseTimeoutMs: 300_000,
  },
  /** "" = off */
  peek: { listener: "" },
  admin: { listener: "127.0.0.1:9090", token: "" },
  log: { level: "info", format: "text", access: true },
  /** pidFile "" = none; stateFile "" = no state file (stick table and health saved every stateIntervalMs) */
  runtime: { workers: 1, pidFile: "", stateFile: "", stateIntervalMs: 10_000 },
  /** How often a backend name whose resolution has no TTL (/etc/hosts) is re-resolved. */
  dns: { refreshWithoutTtlMs: 30_000 },
  /** Per-service settings (`defaults.*` in the main config, overridable per service). */
  settings: {
    balance: "round_robin",
    hashKey: "client_ip",
    connectTimeoutMs: 5_000,
    /** 0 = every backend of the pool (tcpproxy tries all its targets) */
    connectAttempts: 0,
    /** Total time all connect attempts of one client may take */
    connectBudgetMs: 15_000,
    /** 0 = never */
    idleTimeoutMs: 3_600_000,
    /** 0 = unlimited */
    maxConnections: 0,
    proxyProtocol: "",
  },
  /** Routing by TLS server name (services with `sni`): bounds on reading the ClientHello. */
  sni: { timeoutMs: 5_000, maxBytes: 16_384 },
  /** Keys a `health` table leaves out. */
  health: {
    type: "tcp",
    intervalMs: 5_000,
    timeoutMs: 2_000,
    rise: 2,
    fall: 3,
    path: "/",
    method: "GET",
    status: 200,
    body: "",
  },
  routing: {
    file: { watch: true, maxBytes: 64 * 1024 * 1024 },
    http: { pollIntervalMs: 5_000, pollTimeoutMs: 5_000, maxBytes: 4 * 1024 * 1024 },
    consul: {
      waitMs: 5 * 60_000,
      consistencyMode: "stale",
      tag: "sluice",
      maxBytes: 16 * 1024 * 1024,
    },
    nomad: {
      waitMs: 5 * 60_000,
      namespace: "default",
      stale: false,
      tag: "sluice",
      maxBytes: 16 * 1024 * 1024,
    },
    /** With no `tag` configured, services tagged for dill or dyntcp are routed too. */
    legacyTags: ["dill", "dyntcp"],
  },
} as const;

/** The address the docs and messages suggest for peek (it has no default: it is off). */
export const EXAMPLE_PEEK_LISTENER = "127.0.0.1:4444";
