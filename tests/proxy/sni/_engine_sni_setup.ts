// What the engine tests of listeners routing by server name share: a captured ClientHello, a
// routing table from raw services, and one exchange over a real socket.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildTable } from "../../../src/routing/table.ts";
import { validateServices } from "../../../src/routing/service.ts";
import { DEFAULT_SETTINGS } from "../../../src/config/resolve.ts";
import type { Runtime } from "../../../src/runtime/types.ts";
import type { RoutingTable } from "../../../src/routing/types.ts";

/** A ClientHello captured from openssl, naming db.example.com. */
export const HELLO = new Uint8Array(
  readFileSync(
    join(
      import.meta.dirname ?? new URL(".", import.meta.url).pathname,
      "fixtures/openssl_tls12_sni.bin",
    ),
  ),
);

/** The table of raw services, on 127.0.0.1; asserts neither step found a problem. */
export function tableOf(raw: unknown[]): RoutingTable {
  const d = validateServices(raw, "t");
  assert.deepEqual(d.problems, []);
  const built = buildTable([{ provider: "file", services: d.services }], {
    allowed: { local: "127.0.0.1" },
    portMin: 1024,
    portMax: 65535,
    defaults: DEFAULT_SETTINGS,
  });
  assert.deepEqual(built.problems, []);
  return built.table;
}

/** Sends `data`, closes the write side and returns the first answer (null when none). */
export async function exchange(
  rt: Runtime,
  port: number,
  data: Uint8Array,
): Promise<Uint8Array | null> {
  const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 5000 });
  try {
    await c.write(data);
    await c.closeWrite();
    return await c.read({ signal: AbortSignal.timeout(10_000) }).catch(() => null);
  } finally {
    c.close();
  }
}
