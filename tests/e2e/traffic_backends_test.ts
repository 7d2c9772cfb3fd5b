// Traffic control end to end: tier failover and failback with passive ejection, and drain
// by a routing edit. Live state is read from the admin API rather than inferred from timing.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Conn } from "../../src/runtime/types.ts";
import { canConnect, fetchBanner, freePort, type TestServer } from "../_support/helpers.ts";
import { type SluiceFixture, startSluiceFixture } from "./_sluice_fixture.ts";
import { waitFor } from "../_support/wait.ts";
import {
  echoes,
  findListener,
  hostPort,
  LO4,
  namedServerOn,
  readLine,
  rt,
  startNamedEcho,
} from "./_traffic.ts";

describe("tiers: failover to tier 1 and failback to tier 0", () => {
  let fx: SluiceFixture | undefined;
  let port = 0;
  let t0a: { port: number; close(): void };
  let t0b: { port: number; close(): void };
  let t1: { port: number; close(): void };

  before(async () => {
    t0a = namedServerOn("t0a", 0);
    t0b = namedServerOn("t0b", 0);
    t1 = namedServerOn("t1", 0);
    port = await freePort(rt);
    fx = await startSluiceFixture({
      rt,
      routing: `[[services]]
name = "tiered"
listener = "local:${port}"
backends = [
  { address = "${LO4}:${t0a.port}", tier = 0 },
  { address = "${LO4}:${t0b.port}", tier = 0 },
  { address = "${LO4}:${t1.port}", tier = 1 },
]
connect_attempts = 3
connect_timeout = "1s"
`,
    });
    await fx.waitListening([hostPort(LO4, port)]);
  });

  after(async () => {
    await fx?.stop();
    for (const s of [t0a, t0b, t1]) s?.close();
  });

  it("serves from tier 0, fails over when tier 0 is down, and goes back when it returns", {
    timeout: 90_000,
  }, async () => {
    const tier0 = new Set(["t0a", "t0b"]);
    const first: string[] = [];
    for (let i = 0; i < 8; i++) first.push(await fetchBanner(rt, port));
    assert.ok(first.every((n) => tier0.has(n)), `tier 0 only: ${first}`);
    assert.ok(first.includes("t0a") && first.includes("t0b"), `both of tier 0: ${first}`);

    // Tier 0 goes away: its ports refuse.
    const [pa, pb] = [t0a.port, t0b.port];
    t0a.close();
    t0b.close();
    await waitFor(async () => !(await canConnect(rt, pa)) && !(await canConnect(rt, pb)), {
      timeoutMs: 5000,
      what: "tier 0 ports to refuse",
    });
    const during: string[] = [];
    for (let i = 0; i < 6; i++) during.push(await fetchBanner(rt, port));
    assert.deepEqual(during, Array(6).fill("t1"), "every client reaches tier 1");
    const ls = findListener(await fx!.listeners(), hostPort(LO4, port));
    for (const p of [pa, pb]) {
      const b = ls.backends.find((x) => x.address === hostPort(LO4, p))!;
      assert.ok(b.connect_failures >= 1, `tier-0 ${p} was tried`);
      // Passive ejection: after a few refusals tier 0 is skipped instead of dialled for
      // every one of the six clients.
      assert.ok(b.connect_failures < 6, `tier-0 ${p} ejected (${b.connect_failures} failures)`);
    }

    // Tier 0 comes back on the same ports.
    t0a = await waitFor(() => namedServerOn("t0a", pa), {
      timeoutMs: 5000,
      what: `rebinding ${pa}`,
    });
    t0b = await waitFor(() => namedServerOn("t0b", pb), {
      timeoutMs: 5000,
      what: `rebinding ${pb}`,
    });
    // The ejection back-off (1 s doubling, 30 s cap; src/health/passive.ts) bounds failback.
    await waitFor(async () => tier0.has(await fetchBanner(rt, port)), {
      timeoutMs: 40_000,
      intervalMs: 200,
      what: "new connections to fail back to tier 0",
    });
    const back: string[] = [];
    for (let i = 0; i < 6; i++) back.push(await fetchBanner(rt, port));
    assert.ok(back.every((n) => tier0.has(n)), `tier 0 again: ${back}`);
    const seen = new Set(back);
    await waitFor(async () => {
      seen.add(await fetchBanner(rt, port));
      return seen.has("t0a") && seen.has("t0b");
    }, { timeoutMs: 40_000, intervalMs: 200, what: "both tier-0 backends to serve again" });
    assert.ok(!seen.has("t1"), "no client went to tier 1 once tier 0 was back");
  });
});

describe("drain = true by a routing edit", () => {
  let fx: SluiceFixture | undefined;
  let port = 0;
  let a: TestServer;
  let b: TestServer;

  const routing = (drainA: boolean) =>
    `[[services]]
name = "drainable"
listener = "local:${port}"
backends = [
  { address = "${LO4}:${a.port}", drain = ${drainA} },
  { address = "${LO4}:${b.port}" },
]
`;

  before(async () => {
    a = startNamedEcho("A");
    b = startNamedEcho("B");
    port = await freePort(rt);
    fx = await startSluiceFixture({ rt, routing: routing(false) });
    await fx.waitListening([hostPort(LO4, port)]);
  });

  after(async () => {
    await fx?.stop();
    a?.close();
    b?.close();
  });

  async function open(): Promise<{ c: Conn; name: string }> {
    const c = await rt.connect({ host: LO4, port, timeoutMs: 5000 });
    return { c, name: await readLine(c) };
  }

  async function drainShown(want: boolean): Promise<void> {
    await waitFor(async () => {
      const l = findListener(await fx!.listeners(), hostPort(LO4, port));
      return l.backends.find((x) => x.address === hostPort(LO4, a.port))?.drain === want;
    }, { timeoutMs: 5000, what: `backend A drain=${want} in the admin API` });
  }

  it("open connections to the drained backend go on; new ones go to the other", {
    timeout: 60_000,
  }, async () => {
    const held: { c: Conn; name: string }[] = [];
    try {
      for (let i = 0; i < 4; i++) held.push(await open());
      const onA = held.filter((h) => h.name === "A");
      assert.equal(onA.length, 2, `round robin spreads: ${held.map((h) => h.name)}`);

      await fx!.writeRouting(routing(true));
      await drainShown(true);
      for (let i = 0; i < 6; i++) {
        const n = await open();
        held.push(n);
        assert.equal(n.name, "B", "a new connection avoids the drained backend");
      }
      // Every connection opened before the edit still works, A's included.
      for (const [i, h] of held.entries()) await echoes(h.c, `ping-${i};`);
      const l = findListener(await fx!.listeners(), hostPort(LO4, port));
      assert.equal(
        l.backends.find((x) => x.address === hostPort(LO4, a.port))?.active_connections,
        2,
      );

      // Undrained, A takes new connections again.
      await fx!.writeRouting(routing(false));
      await drainShown(false);
      const names = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const n = await open();
        held.push(n);
        names.add(n.name);
      }
      assert.ok(names.has("A"), `A serves again: ${[...names]}`);
    } finally {
      for (const h of held) h.c.close();
    }
  });
});
