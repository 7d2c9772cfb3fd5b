// The blocking-query loop shared by the Consul and Nomad providers (protocol reference 1.9 and
// 4.1): index rules C1-C6, a token bucket instead of a fixed sleep, backoff with jitter on
// errors, canonical snapshots, and failures logged once per change of state.
import { SluiceError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { HttpFetch } from "../runtime/types.ts";
import type { RouteProblem, ServiceSpec } from "../routing/types.ts";
import { createServiceValidator } from "../routing/validator.ts";
import { createBackoff, createTokenBucket, type PacingClock, WALL_CLOCK } from "./backoff.ts";

import { DEFAULT_MAX_ANSWER_BYTES } from "./http_client.ts";
import { createJsonGet, failureOf, type JsonGet } from "./json_get.ts";
import { createStatusTracker } from "./status.ts";
import type { TaggedInstance } from "./tags.ts";
import { createRawServiceCache, sameServices } from "./raw_cache.ts";
import type { Provider, ProviderKind, ProviderStatus } from "./types.ts";

/** Pacing knobs; the defaults follow the protocol reference. Tests shrink them. */
export interface PacingOptions {
  /** Token bucket of the list loop (C4). @default { burst: 10, refillMs: 100 } */
  bucket?: { burst: number; refillMs: number };
  /** Backoff on transient errors. @default { baseMs: 1000, maxMs: 30000 } */
  backoff?: { baseMs: number; maxMs: number };
  /** The least wait after a 403 (bad token). @default 30000 */
  forbiddenMs?: number;
  /** The least wait after a 400 (our request or configuration is wrong). @default 60000 */
  badRequestMs?: number;
  /** @default wall time (Date.now and setTimeout) */
  clock?: PacingClock;
  /**
   * A service's detail is read again once its last read is this old (sources that read only
   * what changed catch here what their list does not show; consul.ts does it while the list
   * waits, so that it never holds up a change).
   * @default 300000
   */
  fullReadEveryMs?: number;
}

export interface ListRound {
  /** The index header, raw (undefined when missing). */
  readonly indexText: string | undefined;
  /** Instances by service key, for every service the list names. */
  readonly instances: ReadonlyMap<string, readonly TaggedInstance[]>;
  /** Services whose detail read failed (their previous instances are reused). */
  readonly failures: readonly { service: string; error: SluiceError }[];
  /** The list came back empty because ACLs hid everything (Consul's filtered header). */
  readonly aclFilteredEmpty?: boolean;
  /** How many detail reads the round made (a source that reads only what changed says). */
  readonly detailReads?: number;
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
  /**
   * One round: the list (blocking when index > 0n) and the details it needs. `full`: read the
   * detail of every listed service, forgetting what earlier rounds read (the first round and
   * after an index reset); otherwise a source may read only what changed, and read again the
   * details that `time` says are due.
   */
  round(index: bigint, get: JsonGet, full: boolean, time: RoundTime): Promise<ListRound>;
}

/** The loop clock's view of a round, for sources that read details again when they are old. */
export interface RoundTime {
  /** The loop clock's time when the round starts. */
  readonly now: number;
  /** A detail read this long ago is due to be read again (fullReadEveryMs). */
  readonly refreshEveryMs: number;
}

export interface BlockingProviderOptions {
  name: string;
  source: BlockingSource;
  fetch: HttpFetch;
  log: Logger;
  random?: () => number;
  pacing?: PacingOptions;
  /** The largest answer read; a larger one is cut off and fails. @default 16 MiB */
  maxBytes?: number;
}

/** Timeout of a non-blocking read (detail fetches, plain list reads). */
export const READ_TIMEOUT_MS = 15_000;

/** Parses a uint64 index header (C6); undefined when missing or not a decimal. */
function parseIndex(text: string | null | undefined): bigint | undefined {
  if (text === null || text === undefined || !/^\d{1,20}$/.test(text.trim())) return undefined;
  return BigInt(text.trim());
}

/**
 * The next index to block on (C1-C3): a missing or unparsable header, or one that went
 * backwards, resets to 0 (a plain read next); a 0 becomes 1, which is always safe to wait on.
 */
function nextIndex(previous: bigint, header: string | undefined): bigint {
  const parsed = parseIndex(header);
  if (parsed === undefined || parsed < previous) return 0n;
  return parsed < 1n ? 1n : parsed;
}

/** The client-side timeout of a blocking read: wait + the server's jitter (wait/16) + 5 s. */
function blockingTimeoutMs(waitMs: number): number {
  return Math.ceil(waitMs + waitMs / 16 + 5000);
}

/** The timeout of a list read: a blocking one (index > 0) may be held for the whole wait. */
export function listTimeoutMs(index: bigint, waitMs: number): number {
  return index > 0n ? blockingTimeoutMs(waitMs) : READ_TIMEOUT_MS;
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
  const pacing = o.pacing ?? {};
  const clock = pacing.clock ?? WALL_CLOCK;
  // Defaults in createTokenBucket (burst 10, one per 100 ms): see why there.
  const bucket = createTokenBucket({ ...pacing.bucket, now: () => clock.now() });
  const backoff = createBackoff({
    baseMs: pacing.backoff?.baseMs ?? 1000,
    maxMs: pacing.backoff?.maxMs ?? 30_000,
    random: o.random ?? Math.random,
  });
  const forbiddenMs = pacing.forbiddenMs ?? 30_000;
  const badRequestMs = pacing.badRequestMs ?? 60_000;
  const fullReadEveryMs = pacing.fullReadEveryMs ?? 300_000;
  /** The least delay before retrying after err: a bad token or request is not fixed by haste. */
  const minDelayMs = (err: SluiceError): number =>
    err.code === "PROVIDER_FORBIDDEN"
      ? forbiddenMs
      : err.code === "PROVIDER_BAD_REQUEST"
      ? badRequestMs
      : 0;
  const tracker = createStatusTracker({ name: o.name, kind: source.kind, log });
  const stopCtl = new AbortController();
  const signal = stopCtl.signal;
  const get = createJsonGet({
    fetch: o.fetch,
    kind: source.kind,
    headers: source.headers,
    secrets: source.secrets,
    stop: signal,
    maxBytes: o.maxBytes ?? DEFAULT_MAX_ANSWER_BYTES,
  });
  const validator = createServiceValidator(source.kind);
  let loop: Promise<void> | undefined;

  // Last good instances per service key, reused when that service's detail read fails (T12).
  let lastInstances: ReadonlyMap<string, readonly TaggedInstance[]> = new Map();
  let deliveredOnce = false;
  const rawCache = createRawServiceCache([source.tag, ...(source.legacyTags ?? [])]);
  let lastServices: readonly ServiceSpec[] = [];
  let lastProblemsKey = problemsText([], []);
  let aclWarned = false;
  let legacyLogged = false;

  const fail = (err: unknown) => tracker.failed(failureOf(err, source.kind));
  const pause = (ms: number) => clock.sleep(ms, signal);

  function deliver(
    services: readonly ServiceSpec[],
    indexText: string | undefined,
    onSnapshot: (s: readonly ServiceSpec[]) => void,
  ): void {
    const index = indexText === undefined ? {} : { index: indexText };
    if (deliveredOnce && sameServices(services, lastServices)) {
      tracker.unchanged(index);
      return;
    }
    deliveredOnce = true;
    lastServices = services;
    tracker.delivered({ services: services.length, ...index });
    log.info("routes updated", { provider: o.name, services: services.length });
    onSnapshot(services);
  }

  function noteIndex(before: bigint, index: bigint, indexText: string | undefined): void {
    if (index !== 0n) return;
    if (indexText !== undefined && parseIndex(indexText) !== undefined) {
      log.info("index went backwards, reading everything again", {
        provider: o.name,
        previous: before.toString(),
        index: indexText,
      });
    } else {
      log.debug("index header missing or unreadable; next read will not block", {
        provider: o.name,
      });
    }
  }

  /** Validates a round's instances; logs new problems; undefined when it must not apply. */
  function servicesOf(
    byService: ReadonlyMap<string, readonly TaggedInstance[]>,
  ): readonly ServiceSpec[] | undefined {
    const notes: string[] = [];
    const legacy = new Set<string>();
    const tagList = [source.tag, ...(source.legacyTags ?? [])];
    const raw = rawCache.build(byService, notes, legacy);
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
    // Instances meant to be routed, none of which yields a route (a port out of range, bad
    // tags): refused like an answer that does not parse while there are routes to lose.
    let meant = false;
    for (const list of byService.values()) {
      if (list.some((i) => tagList.some((t) => i.tags.includes(t)))) {
        meant = true;
        break;
      }
    }
    if (!meant || services.length > 0 || lastServices.length === 0) return services;
    const first = problems[0];
    const why = first
      ? ` (${first.service}: ${first.field ? `${first.field}: ` : ""}${first.reason})`
      : notes[0]
      ? ` (${notes[0]})`
      : "";
    fail(
      new SluiceError(
        "PROVIDER_GARBAGE",
        `${source.kind}: no valid service in the answer${why}; keeping the last good routes`,
        { key: `no_valid:${pk}` },
      ),
    );
    return undefined;
  }

  async function run(onSnapshot: (s: readonly ServiceSpec[]) => void): Promise<void> {
    let index = 0n; // C1
    let plainRead = false; // the next list read must not block (a detail read is pending)
    let full = true; // the next round reads every detail again
    for (let round = 0; !signal.aborted; round++) {
      // C4. The very first (plain, C1) read is free: it is not an iteration of the loop, and
      // charging it would leave one token for the first two changes after startup.
      if (round > 0) await pause(bucket.take());
      if (signal.aborted) break;
      let r: ListRound;
      const time = { now: clock.now(), refreshEveryMs: fullReadEveryMs };
      try {
        r = await source.round(plainRead ? 0n : index, get, full, time);
      } catch (err) {
        if (signal.aborted) break;
        fail(err);
        const min = err instanceof SluiceError ? minDelayMs(err) : 0;
        await pause(Math.max(backoff.next(), min));
        continue;
      }
      if (signal.aborted) break;

      full = false;
      if (r.detailReads !== undefined) {
        log.debug("provider round", { provider: o.name, detail_reads: r.detailReads });
      }
      const before = index;
      index = nextIndex(index, r.indexText);
      noteIndex(before, index, r.indexText);
      // An index that went backwards (a snapshot restore): nothing read before can be trusted.
      if (index === 0n && before > 0n) full = true;

      if (r.aclFilteredEmpty) {
        // A 200 [] with the filtered-by-ACLs header is a token policy problem, not an empty
        // cluster: never empty a table on it. With nothing to lose, the empty list is delivered.
        const msg = `${source.kind}: the token sees no services (results filtered by ACLs); ` +
          `check its service:read and node:read rules`;
        if (lastServices.length > 0) {
          fail(new SluiceError("PROVIDER_FORBIDDEN", msg, { key: "acl_filtered" }));
          await pause(Math.max(backoff.next(), forbiddenMs));
          continue;
        }
        if (!aclWarned) log.warn("no services visible", { provider: o.name, reason: msg });
        aclWarned = true;
      } else {
        aclWarned = false;
      }

      // The round's own map when every read succeeded (one map of every service less a round).
      let instances = r.instances;
      if (r.failures.length > 0) {
        const patched = new Map(r.instances);
        for (const { service } of r.failures) {
          const prev = lastInstances.get(service);
          if (prev) patched.set(service, prev);
        }
        instances = patched;
      }
      lastInstances = instances;
      const services = servicesOf(instances);
      if (services) deliver(services, r.indexText, onSnapshot);

      if (r.failures.length > 0) {
        const first = r.failures[0]!.error;
        const names = r.failures.map((f) => f.service).sort().join(", ");
        fail(
          new SluiceError(first.code, `detail read failed for ${names}: ${first.message}`, {
            key: `detail:${first.key}`,
          }),
        );
        plainRead = true;
        const min = Math.max(...r.failures.map((f) => minDelayMs(f.error)));
        await pause(Math.max(backoff.next(), min));
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
