// Bearer-token check for the admin API: constant-time comparison (hono's timingSafeEqual,
// which compares SHA-256 digests and the strings), any token characters allowed.
import { timingSafeEqual } from "hono/utils/buffer";

export type AuthResult = "ok" | "missing" | "invalid";

/** `expected` empty means no token is configured: everything passes. */
export async function checkBearer(
  header: string | undefined,
  expected: string,
): Promise<AuthResult> {
  if (expected === "") return "ok";
  if (!header) return "missing";
  const m = /^Bearer[ \t]+(.*)$/i.exec(header);
  if (!m) return "invalid";
  const given = (m[1] ?? "").trim();
  return (await timingSafeEqual(expected, given)) ? "ok" : "invalid";
}

/** The RFC 6750 challenge for a 401. */
export function challenge(result: Exclude<AuthResult, "ok">): string {
  return result === "missing"
    ? 'Bearer realm="sluice"'
    : 'Bearer realm="sluice", error="invalid_token"';
}
