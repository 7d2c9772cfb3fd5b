// Scale-out without shared state: three sluice processes (one per "node": each binds the same
// routed port on its own loopback address 127.0.0.1/2/3) read one Consul catalog. With
// balance = "hash" (rendezvous hashing on the first 8 bytes a client sends) the same client key
// lands on the same backend through every instance, and removing a backend moves only the
// clients it had, the same way on all three.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { type ConsulEmulator, startConsulEmulator } from "../_support/consul_emulator.ts";
import {
  bytes,
  freePort,
  readAll,
  runtime,
  type SluiceProcess,
  spawnSluice,
  startNamedServer,
  tempDir,
  type TestServer,
} from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";

const NODES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
const KEYS = Array.from({ length: 32 }, (_, i) => `client${String(i).padStart(2, "0")}`);

let rt: Runtime;
let dir: { path: string; remove(): Promise<void> };
let emu: ConsulEmulator;
let backends: TestServer[] = [];
const instances: { node: string; admin: number; p: SluiceProcess }[] = [];
let port: number;

before(async () => {
  rt = await runtime();
  dir = await tempDir("sluice-scale-");
  emu = await startConsulEmulator({ jitter: false });
  port = await freePort(rt);
  backends = ["b0", "b1", "b2", "b3"].map((n) => startNamedServer(rt, n));
  backends.forEach((b, i) =>
    emu.register({
      id: `b${i}`,
      name: "pool",
      address: "127.0.0.1",
      port: b.port,
      tags: ["sluice", `sluice.listener=node:${port}`, "sluice.balance=hash"],
    })
  );
  for (const [i, node] of NODES.entries()) {
    const admin = await freePort(rt);
    const config = join(dir.path, `node${i}.toml`);
    // The same config on every node but its own address, as the Nomad system job renders it.
    await writeFile(
      config,
      `[listeners]
allowed = { node = "${node}" }
port_min = 1024
port_max = 65535
drain_timeout = "1s"

[admin]
listener = "127.0.0.1:${admin}"

[defaults]
hash_key = "first_bytes:0-8"

[routing.consul]
address = "${emu.url}"
`,
    );
    instances.push({ node, admin, p: spawnSluice(rt, ["run", "-c", config], { cwd: dir.path }) });
  }
});

after(async () => {
  for (const { p } of instances) p.signal("SIGTERM");
  for (const { p } of instances) await p.exited(15_000).catch(() => p.kill());
  for (const b of backends) b.close();
  await emu?.close();
  await dir?.remove();
});

/** Backends of the routed listener as instance `i` sees it (admin API). */
async function backendsSeen(i: number): Promise<string[] | undefined> {
  const { node, admin } = instances[i]!;
  const r = await fetch(`http://127.0.0.1:${admin}/api/v1/routing`, {
    signal: AbortSignal.timeout(3000),
  }).catch(() => undefined);
  if (!r?.ok) return undefined;
  const body = await r.json() as {
    listeners: { address: string; state: string; backends: { address: string }[] }[];
  };
  const l = body.listeners.find((x) => x.address === `${node}:${port}` && x.state === "listening");
  return l?.backends.map((b) => b.address).sort();
}

async function waitBackends(count: number): Promise<void> {
  for (const i of NODES.keys()) {
    await waitFor(async () => (await backendsSeen(i))?.length === count, {
      timeoutMs: 30_000,
      intervalMs: 150,
      what: `instance ${i} to route ${count} backends:\n${instances[i]!.p.lines.join("\n")}`,
    });
  }
}

/** Which backend serves `key` through the instance on `node`. */
async function served(node: string, key: string): Promise<string> {
  const c = await rt.connect({ host: node, port, timeoutMs: 5000 });
  try {
    await c.write(bytes(key));
    await c.closeWrite();
    return await readAll(c);
  } finally {
    c.close();
  }
}

/** key -> backend name, asserting that all three instances agree. */
async function placement(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of KEYS) {
    const names = [];
    for (const node of NODES) names.push(await served(node, key));
    assert.deepEqual(names, [names[0], names[0], names[0]], `${key} through ${NODES.join(", ")}`);
    out.set(key, names[0]!);
  }
  return out;
}

describe("three instances, one catalog, balance = hash", () => {
  it("send a client key to the same backend, and a removal moves only that backend's clients", {
    timeout: 120_000,
  }, async () => {
    await waitBackends(4);
    const before = await placement();
    const used = new Set(before.values());
    assert.ok(used.size >= 3, `32 keys spread over the backends: ${[...used]}`);

    // Take away the backend with the most clients, from the catalog only.
    const counts = new Map<string, number>();
    for (const b of before.values()) counts.set(b, (counts.get(b) ?? 0) + 1);
    const gone = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    emu.deregister(gone);
    await waitBackends(3);

    const afterRemoval = await placement();
    for (const key of KEYS) {
      const was = before.get(key)!;
      const now = afterRemoval.get(key)!;
      if (was === gone) assert.notEqual(now, gone, `${key} left the removed backend`);
      else assert.equal(now, was, `${key} was on ${was}, which stayed: it must not move`);
    }
    const moved = KEYS.filter((k) => before.get(k) !== afterRemoval.get(k));
    assert.equal(moved.length, counts.get(gone), "exactly the removed backend's clients moved");
  });
});
