// The engine's use of the stick table (balancer/stick_table.ts): which key a connection sticks
// by, and the backend order once a stuck backend is put first. A stuck backend keeps its clients
// while it is drained (by routing, the admin API or a failing check with fall_action = "drain":
// tcpffee's zero-interruption drain); disabled, removed or ejected (connects failing) it loses
// them, and the connection's new pick is remembered instead.
import type { HashKey } from "../routing/types.ts";
import type { ClientInfo } from "../balancer/types.ts";
import type { StickTable } from "../balancer/stick_table.ts";
import type { LiveBackend } from "./backend.ts";

function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/** "<service>\u0000<client>": the client as hash_key names it (IP, slice in hex, or both). */
export function stickKey(service: string, hashKey: HashKey | undefined, c: ClientInfo): string {
  const slice = c.keyBytes && c.keyBytes.length > 0 ? hex(c.keyBytes) : undefined;
  let client = c.ip;
  if (hashKey?.kind === "first_bytes" && slice) client = `bytes:${slice}`;
  else if (hashKey?.kind === "client_ip+first_bytes" && slice) client = `${c.ip}+${slice}`;
  return `${service}\u0000${client}`;
}

/** The key's service and client parts, for the admin API. */
export function splitStickKey(key: string): { service: string; client: string } {
  const i = key.indexOf("\u0000");
  return i < 0
    ? { service: "", client: key }
    : { service: key.slice(0, i), client: key.slice(i + 1) };
}

/** A stuck backend that may still take its clients. */
function keepsStuck(b: LiveBackend): boolean {
  return !b.disabled && !b.removed && !b.ejector.ejected();
}

/** `order` with the backend stuck to `key` first, when there is one that keeps its clients. */
export function stuckFirst(
  table: StickTable,
  key: string,
  candidates: readonly LiveBackend[],
  order: LiveBackend[],
): LiveBackend[] {
  const id = table.get(key);
  if (id === undefined) return order;
  const b = candidates.find((c) => c.hashId === id);
  if (!b || !keepsStuck(b)) {
    table.delete(key);
    return order;
  }
  return [b, ...order.filter((x) => x !== b)];
}
