// Helpers for providers that read whole routing documents (file, http): a content hash that
// skips unchanged versions, and each route problem of a new version logged once.
import { createHash } from "node:crypto";
import type { Logger } from "../log.ts";
import type { RouteProblem } from "../routing/types.ts";

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
