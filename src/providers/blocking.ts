// The blocking-query loop shared by the Consul and Nomad providers (protocol reference 1.9 and
// 4.1): index rules C1-C6, a token bucket instead of a fixed sleep, backoff with jitter on
// errors, canonical snapshots, and failures logged once per change of state.
import type { Logger } from "../log.ts";
import type { HttpFetch } from "../runtime/types.ts";
import type { RouteProblem, ServiceSpec } from "../routing/types.ts";
import { createServiceValidator } from "../routing/validator.ts";
import {
  type Backoff,
  createBackoff,
  createTokenBucket,
  sleep,
  type TokenBucket,
} from "./backoff.ts";
import { createStatusTracker, type FailureKind, type ProviderFailure } from "./status.ts";
import { buildRawServices, type TaggedInstance } from "./tags.ts";
import type { Provider, ProviderKind, ProviderStatus } from "./types.ts";

/** Pacing knobs; the defaults follow the protocol reference. Tests shrink them. */
export interface PacingOptions {
  /** Token bucket of the list loop (C4). @default { burst: 5, refillMs: 1000 } */
  bucket?: { burst: number; refillMs: number };
  /** Backoff on transient errors. @default { baseMs: 1000, maxMs: 30000 } */
  backoff?: { baseMs: number; maxMs: number };
  /** The least wait after a 403 (bad token). @default 30000 */
  forbiddenMs?: number;
  /** The least wait after a 400 (our request or configuration is wrong). @default 60000 */
  badRequestMs?: number;
  /** Timeout of a non-blocking read (detail fetches). @default 15000 */
  readTimeoutMs?: number;
}

/** A failed read, classified; the message never holds the token. */
export class QueryFault extends Error {
  readonly kind: FailureKind;
  readonly key: string;
  /** The least delay before the next attempt. */
  readonly minDelayMs: number;
  constructor(kind: FailureKind, message: string, o: { key?: string; minDelayMs?: number } = {}) {
    super(message);
    this.name = "QueryFault";
    this.kind = kind;
    this.key = o.key ?? kind;
    this.minDelayMs = o.minDelayMs ?? 0;
  }
}

export interface JsonAnswer {
  readonly body: unknown;
  readonly headers: Headers;
}

/** GETs JSON with the source's headers, a timeout and classified failures. */
export type JsonGet = (url: string, o: { timeoutMs: number; what: string }) => Promise<JsonAnswer>;

export interface ListRound {
  /** The index header, raw (undefined when missing). */
  readonly indexText: string | undefined;
  /** Instances by service key, for every service the list names. */
  readonly instances: ReadonlyMap<string, readonly TaggedInstance[]>;
  /** Services whose detail read failed (their previous instances are reused). */
  readonly failures: readonly { service: string; fault: QueryFault }[];
  /** The list came back empty because ACLs hid everything (Consul's filtered header). */
  readonly aclFilteredEmpty?: boolean;
}

/** What a concrete provider supplies: its URLs, headers and answer shapes. */
export interface BlockingSource {
  readonly kind: ProviderKind;
  /** The routing tag (SPEC section 4). */
  readonly tag: string;
  /** Also routed, each with its own prefix (dill's and dyntcp's when no tag is configured). */
  readonly legacyTags?: readonly string[];
  readonly indexHeader: string;
  /** Sent with every request (the token lives here only). */
  readonly headers: Readonly<Record<string, string>>;
  /** The longest the server may hold a list query (wait, capped), for the client timeout. */
  readonly waitMs: number;
  /** Secrets to scrub from any message that came from the server. */
  readonly secrets: readonly string[];
  /** One round: the list (blocking when index > 0n) and the detail of each listed service. */
  round(index: bigint, get: JsonGet): Promise<ListRound>;
}

export interface BlockingProviderOptions {
  name: string;
  source: BlockingSource;
  fetch: HttpFetch;
  log: Logger;
  random?: () => number;
  pacing?: PacingOptions;
}

function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join("***");
  return out;
}

/** One line of an error body: trimmed, HTML reduced to a note. */
function bodyReason(text: string): string {
  const t = text.trim();
  if (/^<(!doctype|html)/i.test(t)) {
    return "an HTML page (an intermediary such as a proxy answered)";
  }
  const line = t.split("\n")[0] ?? "";
  return line.length > 200 ? `${line.slice(0, 200)}...` : line || "empty body";
}

/** Parses a uint64 index header (C6); undefined when missing or not a decimal. */
export function parseIndex(text: string | null | undefined): bigint | undefined {
  if (text === null || text === undefined || !/^\d{1,20}$/.test(text.trim())) return undefined;
  return BigInt(text.trim());
}

/**
 * The next index to block on (C1-C3): a missing or unparsable header, or one that went
 * backwards, resets to 0 (a plain read next); a 0 becomes 1, which is always safe to wait on.
 */
export function nextIndex(previous: bigint, header: string | undefined): bigint {
  const parsed = parseIndex(header);
  if (parsed === undefined || parsed < previous) return 0n;
  return parsed < 1n ? 1n : parsed;
}

/** The client-side timeout of a blocking read: wait + the server's jitter (wait/16) + 5 s. */
export function blockingTimeoutMs(waitMs: number): number {
  return Math.ceil(waitMs + waitMs / 16 + 5000);
}

/** Describes a thrown fetch error without leaking anything the URL or headers held. */
function networkFault(err: unknown, what: string, timedOut: boolean): QueryFault {
  if (timedOut) return new QueryFault("timeout", `${what}: no answer within the timeout`);
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
  const code = typeof e?.code === "string"
    ? e.code
    : typeof e?.cause?.code === "string"
    ? e.cause.code
    : "";
  const msg = typeof e?.message === "string" ? e.message : String(err);
  return new QueryFault("unreachable", `${what}: connection failed (${code || msg})`, {
    key: `unreachable`,
  });
}

function createJsonGet(
  fetch: HttpFetch,
  source: BlockingSource,
  stop: AbortSignal,
  o: Required<Pick<PacingOptions, "forbiddenMs" | "badRequestMs">>,
): JsonGet {
  return async (url, { timeoutMs, what }) => {
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, timeoutMs);
    const onStop = () => ctl.abort();
    stop.addEventListener("abort", onStop, { once: true });
    try {
      let res: Response;
      let text: string;
      try {
        // Bun's fetch drops a quiet socket after 5 min unless told otherwise (reference 6.7).
        const init = { headers: source.headers, signal: ctl.signal, timeout: false };
        res = await fetch(url, init as RequestInit);
        text = await res.text();
      } catch (err) {
        if (stop.aborted) {
          throw new QueryFault("unreachable", `${what}: stopped`, { key: "stopped" });
        }
        throw networkFault(err, what, timedOut);
      }
      const status = res.status;
      if (status === 403 || status === 401) {
        const reason = redact(bodyReason(text), source.secrets);
        throw new QueryFault("forbidden", `${what}: ${status} ${reason} (check the token)`, {
          key: `forbidden:${reason}`,
          minDelayMs: o.forbiddenMs,
        });
      }
      if (status === 400) {
        const reason = redact(bodyReason(text), source.secrets);
        throw new QueryFault(
          "bad_request",
          `${what}: 400 ${reason} (a configuration error: check routing.${source.kind}.*)`,
          { key: `bad_request:${reason}`, minDelayMs: o.badRequestMs },
        );
      }
      if (status < 200 || status > 299) {
        const reason = redact(bodyReason(text), source.secrets);
        throw new QueryFault("http_status", `${what}: ${status} ${reason}`, {
          key: `http_status:${status}`,
        });
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new QueryFault(
          "garbage",
          `${what}: the answer is not JSON (${redact(bodyReason(text), source.secrets)})`,
        );
      }
      return { body, headers: res.headers };
    } finally {
      clearTimeout(timer);
      stop.removeEventListener("abort", onStop);
    }
  };
}

/** Runs `fn` over items with at most `limit` in flight. */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function problemsText(problems: readonly RouteProblem[], notes: readonly string[]): string {
  return JSON.stringify([problems.map((p) => [p.service, p.field, p.reason]), notes]);
}

/**
 * A Provider around a BlockingSource. One loop: take a token, read the list (blocking on the
 * last index), read details, validate, deliver only when the canonical snapshot changed.
 */
export function createBlockingProvider(o: BlockingProviderOptions): Provider {
  const { source, log } = o;
  const random = o.random ?? Math.random;
  const pacing = o.pacing ?? {};
  // Defaults in createTokenBucket (burst 5, one per second): see why there.
  const bucket: TokenBucket = createTokenBucket(pacing.bucket);
  const backoff: Backoff = createBackoff({
    baseMs: pacing.backoff?.baseMs ?? 1000,
    maxMs: pacing.backoff?.maxMs ?? 30_000,
    random,
  });
  const forbiddenMs = pacing.forbiddenMs ?? 30_000;
  const badRequestMs = pacing.badRequestMs ?? 60_000;
  const tracker = createStatusTracker({ name: o.name, kind: source.kind, log });
  const stopCtl = new AbortController();
  const get = createJsonGet(o.fetch, source, stopCtl.signal, { forbiddenMs, badRequestMs });
  const validator = createServiceValidator(source.kind);
  let loop: Promise<void> | undefined;

  // Last good instances per service key, reused when that service's detail read fails (T12).
  let lastInstances = new Map<string, readonly TaggedInstance[]>();
  let lastSnapshotKey: string | undefined;
  let lastServices: readonly ServiceSpec[] = [];
  let lastProblemsKey = problemsText([], []);
  let aclWarned = false;
  let legacyLogged = false;

  function fail(f: QueryFault): void {
    const failure: ProviderFailure = { kind: f.kind, message: f.message, key: f.key };
    tracker.failed(failure);
  }

  function deliver(
    services: readonly ServiceSpec[],
    indexText: string | undefined,
    onSnapshot: (s: readonly ServiceSpec[]) => void,
  ): void {
    const key = JSON.stringify(services);
    const index = indexText === undefined ? {} : { index: indexText };
    if (key === lastSnapshotKey) {
      tracker.unchanged(index);
      return;
    }
    lastSnapshotKey = key;
    lastServices = services;
    tracker.delivered({ services: services.length, ...index });
    log.info("routes updated", { provider: o.name, services: services.length });
    onSnapshot(services);
  }

  async function run(onSnapshot: (s: readonly ServiceSpec[]) => void): Promise<void> {
    const signal = stopCtl.signal;
    let index = 0n; // C1
    let plainRead = false; // the next list read must not block (a detail read is pending)
    for (let round = 0; !signal.aborted; round++) {
      // C4. The very first (plain, C1) read is free: it is not an iteration of the loop, and
      // charging it would leave one token for the first two changes after startup.
      if (round > 0) await sleep(bucket.take(), signal);
      if (signal.aborted) break;
      let r: ListRound;
      try {
        r = await source.round(plainRead ? 0n : index, get);
      } catch (err) {
        if (signal.aborted) break;
        const f = err instanceof QueryFault
          ? err
          : new QueryFault("garbage", `${source.kind}: ${String((err as Error)?.message ?? err)}`);
        fail(f);
        await sleep(Math.max(backoff.next(), f.minDelayMs), signal);
        continue;
      }
      if (signal.aborted) break;

      const before = index;
      index = nextIndex(index, r.indexText);
      if (index === 0n && r.indexText !== undefined && parseIndex(r.indexText) !== undefined) {
        log.info("index went backwards, reading everything again", {
          provider: o.name,
          previous: before.toString(),
          index: r.indexText,
        });
      } else if (index === 0n) {
        log.debug("index header missing or unreadable; next read will not block", {
          provider: o.name,
        });
      }

      if (r.aclFilteredEmpty) {
        // A 200 [] with the filtered-by-ACLs header is a token policy problem, not an empty
        // cluster: never empty a table on it. With nothing to lose, the empty list is delivered.
        const msg = `${source.kind}: the token sees no services (results filtered by ACLs); ` +
          `check its service:read and node:read rules`;
        if (lastServices.length > 0) {
          fail(new QueryFault("forbidden", msg, { key: "acl_filtered" }));
          await sleep(Math.max(backoff.next(), forbiddenMs), signal);
          continue;
        }
        if (!aclWarned) log.warn("no services visible", { provider: o.name, reason: msg });
        aclWarned = true;
      } else {
        aclWarned = false;
      }

      const instances = new Map<string, readonly TaggedInstance[]>();
      for (const [service, list] of r.instances) instances.set(service, list);
      for (const { service } of r.failures) {
        const prev = lastInstances.get(service);
        if (prev) instances.set(service, prev);
      }
      lastInstances = instances;

      const notes: string[] = [];
      const all = [...instances.values()].flat();
      const legacy = new Set<string>();
      const tagList = [source.tag, ...(source.legacyTags ?? [])];
      const raw = buildRawServices(all, tagList, notes, legacy);
      if (legacy.size > 0 && !legacyLogged) {
        legacyLogged = true;
        log.info("services routed by a legacy tag", {
          provider: o.name,
          services: legacy.size,
          tags: (source.legacyTags ?? []).join(","),
          hint: `tag them "${source.tag}", or set the provider's tag`,
        });
      }
      const { services, problems } = validator.validate(raw);
      const pk = problemsText(problems, notes);
      if (pk !== lastProblemsKey) {
        lastProblemsKey = pk;
        for (const n of notes) log.warn("tag ignored", { provider: o.name, note: n });
        for (const p of problems) {
          log.warn("route problem", {
            provider: o.name,
            service: p.service,
            field: p.field,
            reason: p.reason,
          });
        }
      }
      deliver(services, r.indexText, onSnapshot);

      if (r.failures.length > 0) {
        const first = r.failures[0]!;
        const names = r.failures.map((f) => f.service).sort().join(", ");
        fail(
          new QueryFault(
            first.fault.kind,
            `detail read failed for ${names}: ${first.fault.message}`,
            {
              key: `detail:${first.fault.key}`,
            },
          ),
        );
        plainRead = true;
        const min = Math.max(...r.failures.map((f) => f.fault.minDelayMs));
        await sleep(Math.max(backoff.next(), min), signal);
        continue;
      }
      plainRead = false;
      backoff.reset();
    }
  }

  return {
    name: o.name,
    kind: source.kind,
    start(onSnapshot) {
      if (loop) return;
      loop = run(onSnapshot).catch((err) => {
        log.error("provider loop ended", { provider: o.name, error: String(err) });
      });
    },
    async stop() {
      stopCtl.abort();
      await loop;
      tracker.stopped();
    },
    status(): ProviderStatus {
      return tracker.status();
    },
  };
}

// The one provider-address normalisation lives in src/net/url.ts.
export { normaliseAddress } from "../net/url.ts";
