// Helpers for providers that read whole routing documents (file, http): a content hash that
// skips unchanged versions, and each route problem of a new version logged once.
import { createHash } from "node:crypto";
import type { Logger } from "../log.ts";
import type { RouteProblem, ServiceSpec } from "../routing/types.ts";

/** A short sha256 of the content: tells versions apart in the status, skips unchanged ones. */
export function contentHash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex").slice(0, 16);
}

/** Logs each problem of a freshly parsed document once (a dropped route or an ignored key). */
export function logRouteProblems(
  log: Logger,
  problems: readonly RouteProblem[],
  notices: readonly string[] = [],
): void {
  for (const n of notices) log.warn("routing document", { note: n });
  for (const p of problems) {
    log.warn("route problem", {
      service: p.service,
      field: p.field,
      reason: p.reason,
      source: p.source,
    });
  }
}

/**
 * Whether a document that parsed declared services and every one was rejected (a port out of
 * range, a wrong type): it yields no route although it meant to. Issue 12, bug 12: while the
 * routes before it had any, such a document is refused like one that does not parse, instead
 * of closing every listener. An explicit `services = []` is not this: it means "no services".
 */
export function everyServiceRejected(parsed: {
  readonly services: readonly ServiceSpec[];
  readonly problems: readonly RouteProblem[];
}): boolean {
  return parsed.services.length === 0 && parsed.problems.some((p) => p.service !== "(document)");
}

/** The failure message of such a document: the source and its first problem. */
export function noValidServiceMessage(source: string, problems: readonly RouteProblem[]): string {
  const first = problems.find((p) => p.service !== "(document)");
  const why = first
    ? ` (${first.service}: ${first.field ? `${first.field}: ` : ""}${first.reason})`
    : "";
  return `${source}: no valid service in the new routing${why}; keeping the last good routes`;
}
