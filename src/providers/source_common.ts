// What the Consul and Nomad sources share: reading untrusted JSON shapes, query strings, the
// validation of their common settings, and the detail reads of one round (bounded concurrency,
// a failed read recorded for that service alone).
import { SluiceError } from "../errors.ts";
import { normaliseAddress } from "../net/url.ts";
import { isStopped } from "./json_get.ts";
import type { Logger } from "../log.ts";
import type { Runtime } from "../runtime/types.ts";
import type { PacingOptions } from "./blocking.ts";
import type { TaggedInstance } from "./tags.ts";

/** The object, or undefined for anything else (null, a list, a scalar). */
export function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? v as Record<string, unknown>
    : undefined;
}

/** The strings of a list; anything else (Nomad's `null` for no tags) is an empty list. */
export function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((t): t is string => typeof t === "string") : [];
}

/** "[::1]" -> "::1": addresses are kept bare and bracketed again when formatted. */
export function bareHost(host: string): string {
  return host.replace(/^\[(.*)\]$/, "$1");
}

/** A query string where `undefined` values are bare flags (`?stale`), which Consul reads as set. */
export function queryString(params: readonly (readonly [string, string | undefined])[]): string {
  const parts = params.map(([k, v]) =>
    v === undefined ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`
  );
  return parts.length ? `?${parts.join("&")}` : "";
}

/**
 * Checks the settings every blocking source has (address, wait, tag) and returns the normalised
 * address. Throws SluiceError("CONFIG") naming `routing.<kind>.<key>`.
 */
export function validateSourceConfig(
  kind: "consul" | "nomad",
  c: { address: string; waitMs: number; tag: string },
): string {
  const address = normaliseAddress(c.address, `routing.${kind}.address`);
  if (!Number.isFinite(c.waitMs) || c.waitMs <= 0) {
    throw new SluiceError("CONFIG", `routing.${kind}.wait: expected a duration above 0`);
  }
  if (typeof c.tag !== "string" || c.tag === "") {
    throw new SluiceError("CONFIG", `routing.${kind}.tag: expected a non-empty tag`);
  }
  return address;
}

/** Runs `fn` over items with at most `limit` in flight. */
async function eachLimited<T>(
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

export interface DetailReads {
  readonly instances: Map<string, TaggedInstance[]>;
  /** Services whose read failed; their previous instances are reused by the loop. */
  readonly failures: { service: string; error: SluiceError }[];
}

/**
 * Reads the detail of each item, `parallel` at a time (default four). A failed read (a
 * SluiceError) is recorded for its service; a stop, or anything that is not a SluiceError (a
 * bug), ends the round.
 */
export async function readDetails<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  read: (item: T) => Promise<TaggedInstance[]>,
  parallel = 4,
): Promise<DetailReads> {
  const instances = new Map<string, TaggedInstance[]>();
  const failures: { service: string; error: SluiceError }[] = [];
  await eachLimited(items, parallel, async (item) => {
    try {
      instances.set(keyOf(item), await read(item));
    } catch (err) {
      if (!(err instanceof SluiceError) || isStopped(err)) throw err;
      failures.push({ service: keyOf(item), error: err });
    }
  });
  return { instances, failures };
}

/** What createConsulProvider and createNomadProvider take: their config and the loop's pacing. */
export interface SourceProviderOptions<C> {
  rt: Pick<Runtime, "httpClient">;
  config: C;
  log: Logger;
  /** [0, 1), for backoff jitter. @default Math.random */
  random?: () => number;
  /** The list loop's token bucket. @default { burst: 10, refillMs: 100 } */
  bucket?: { burst: number; refillMs: number };
  /** Backoff, least waits and the clock; tests shrink or fake them. */
  pacing?: Omit<PacingOptions, "bucket">;
  /** @default the provider's kind ("consul", "nomad") */
  name?: string;
}
