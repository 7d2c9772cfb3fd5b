// The routing model: what providers deliver (ServiceSpec) and what the engine runs (RoutingTable).
// Providers never resolve labels or apply defaults: the table builder does, against the live
// main config, so a config reload re-resolves every provider's last routes.

export type BalanceName = "round_robin" | "weighted" | "least_conn" | "random" | "p2c" | "hash";

export type HashKey =
  | { readonly kind: "client_ip" }
  /** bytes [start, end) of the client's first bytes (the config says "first_bytes:START-END", END exclusive) */
  | { readonly kind: "first_bytes"; readonly start: number; readonly end: number }
  /** the client IP and that slice ("client_ip+first_bytes:START-END", tcpffee's IP_WITH_FIRST_MESSAGE_SLICE) */
  | { readonly kind: "client_ip+first_bytes"; readonly start: number; readonly end: number };

export type ProxyProtocolVersion = "" | "v1" | "v2";

/** A parsed `proxy` URL. Only socks5 (sluice resolves names) and socks5h (the proxy does). */
export interface ProxyUrl {
  readonly scheme: "socks5" | "socks5h";
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
}

export interface HealthSpec {
  readonly type: "tcp" | "http";
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
  /** http only */
  readonly path: string;
  readonly method: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** http only: the request body sent with the check */
  readonly body: string;
  /**
   * What a failing check does to the backend: "drain" (no new clients, stuck ones stay; the
   * pool may still fail open to it), "disable" (no connection at all) or "ignore" (logged only).
   * Absent = "drain".
   */
  readonly fallAction?: "drain" | "disable" | "ignore";
}

/** The per-service settings marked (D) in SPEC section 3, resolved. */
export interface ServiceSettings {
  readonly balance: BalanceName;
  readonly hashKey: HashKey;
  readonly connectTimeoutMs: number;
  /** 0 = every backend of the pool */
  readonly connectAttempts: number;
  /** Total time one client's connect attempts may take */
  readonly connectBudgetMs: number;
  /** 0 = never */
  readonly idleTimeoutMs: number;
  /** 0 = unlimited */
  readonly maxConnections: number;
  readonly proxyProtocol: ProxyProtocolVersion;
  /** undefined = no active checks; a list = several checks, each with its fall action */
  readonly health: HealthSpec | readonly HealthSpec[] | undefined;
  /** The stick table (opt-in): a client key's first pick is kept until idle this long */
  readonly stick?: { readonly expirationMs: number } | undefined;
}

/** Listener-level settings that are not defaults-able. */
export interface AcceptSettings {
  readonly acceptProxyProtocol: boolean;
  /** CIDRs, e.g. "10.0.0.0/8", "::1/128" */
  readonly trustedProxies: readonly string[];
}

export interface ListenerRef {
  readonly label: string;
  readonly port: number;
}

export interface BackendSpec {
  /**
   * As written, normalised: "10.0.0.1:5432", "[2001:db8::7]:5432", "db.internal:5432"; without
   * a port ("10.0.0.5", port 0) the backend takes the port of each listener it serves.
   */
  readonly address: string;
  /** Without brackets */
  readonly host: string;
  /** 0: the port of the listener the client connected to (tcpffee's portmap = "IP") */
  readonly port: number;
  /** @default 1 */
  readonly weight: number;
  /** @default 0 */
  readonly tier: number;
  /** @default false */
  readonly drain: boolean;
  /** Configured but takes no connection at all (not even fail-open). @default false */
  readonly disabled?: boolean;
  /** Group label: backends of one group on several listeners take the same clients. @default host */
  readonly group?: string;
}

/** A validated service as a provider delivers it: labels unresolved, only the settings it sets. */
export interface ServiceSpec {
  readonly name: string;
  readonly listeners: readonly ListenerRef[];
  readonly backends: readonly BackendSpec[];
  readonly proxy?: ProxyUrl;
  /** The (D) settings this service sets itself; the rest come from `defaults.*`. */
  readonly settings: Partial<ServiceSettings>;
  readonly accept: Partial<AcceptSettings>;
  /**
   * TLS server names this service takes on a listener it shares (canonical: lower case, no
   * trailing dot; `*.` wildcards of one label). Absent: none (the default on an SNI listener).
   */
  readonly sni?: readonly string[];
  /** How long a client on an SNI listener may take to send its ClientHello (`sni_timeout`). */
  readonly sniTimeoutMs?: number;
}

/** One problem found while validating, e.g. a route dropped. */
export interface RouteProblem {
  /** The service name, or "#3" when it has none */
  readonly service: string;
  /** The field path inside the service, e.g. "backends[2].weight" */
  readonly field: string;
  readonly reason: string;
  /** Where it came from: a file path, "consul", "http:https://..." */
  readonly source: string;
}

export interface BackendPlan {
  /** Identity inside a listener: via + address, e.g. "socks5://u:***@10.0.0.5:1080 ➤ 10.0.0.9:80" */
  readonly key: string;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly tier: number;
  readonly drain: boolean;
  /** Takes no connection at all; its stuck clients go elsewhere. Absent = false */
  readonly disabled?: boolean;
  /** The `group` label when set; the hash identity across listeners is group ?? host */
  readonly group?: string;
  readonly proxy?: ProxyUrl;
  /** The service that brought it */
  readonly service: string;
}

/** One service of a listener that routes by TLS server name: its own settings and pool. */
export interface SniRoute {
  readonly service: string;
  /** The names it keeps (canonical); empty: the listener's default service. */
  readonly names: readonly string[];
  /** Its settings; on the listener, `accept`, max_connections and sni_timeout are shared. */
  readonly settings: ServiceSettings;
  readonly backends: readonly BackendPlan[];
}

/** How a listener whose services set `sni` picks a service per connection. */
export interface SniPlan {
  /** Bound on reading the ClientHello, from the first SNI service (by name). */
  readonly timeoutMs: number;
  /** By service name; the default (no names) is among them. */
  readonly routes: readonly SniRoute[];
}

export interface ListenerPlan {
  /** "127.0.0.1:5432", "[::]:5432": the address bound */
  readonly key: string;
  readonly label: string;
  readonly host: string;
  readonly port: number;
  /** Sorted service names sharing this listener */
  readonly services: readonly string[];
  readonly settings: ServiceSettings;
  readonly accept: AcceptSettings;
  /** Every backend; on an SNI listener, every route's backends in route order. */
  readonly backends: readonly BackendPlan[];
  /** Set when a service on this listener sets `sni`: one pool per service, chosen per connection. */
  readonly sni?: SniPlan;
}

export interface RoutingTable {
  /** By ListenerPlan.key, sorted by key */
  readonly listeners: ReadonlyMap<string, ListenerPlan>;
  /**
   * Set when this table equals `base` except at `keys` (listeners added, changed or removed):
   * a consumer that applied `base` may apply only those keys instead of walking every listener.
   * The base is named, not held (a chain of every table built would never be freed).
   */
  readonly changedSince?: {
    readonly base: WeakRef<RoutingTable>;
    readonly keys: readonly string[];
  };
}

/** A table and the problems found while building it. */
export interface BuiltTable {
  readonly table: RoutingTable;
  readonly problems: RouteProblem[];
}

/** What the table builder needs from the main config. */
export interface TableConfig {
  readonly allowed: Readonly<Record<string, string>>;
  readonly portMin: number;
  readonly portMax: number;
  readonly defaults: ServiceSettings;
}

export interface ProviderRoutes {
  /** Provider name, e.g. "file", "consul" */
  readonly provider: string;
  readonly services: readonly ServiceSpec[];
}

/** A routing document's (or a provider answer's) validated services and the problems found. */
export interface ParsedDocument {
  readonly services: ServiceSpec[];
  readonly problems: RouteProblem[];
  /** Warnings that drop nothing (`{}`, which dill would refuse, read as no services). */
  readonly notices?: readonly string[];
}
