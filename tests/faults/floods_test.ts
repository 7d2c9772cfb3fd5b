// Floods (issue 12, fault suite): a burst far over max_connections (the excess closed at once,
// the admitted served, /metrics agreeing with what the clients saw), slowloris on peek (silent
// clients and clients that send a byte at a time are answered or closed, never held), and
// SIGTERM with 500 live connections (every byte in flight delivered, every client closed, the
// process gone within drain_timeout plus a bound).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Conn, Runtime } from "../../src/runtime/types.ts";
import { bytes, freePort, runtime, startEchoServer, type TestServer } from "../_support/helpers.ts";
import {
  ending,
  LO4,
  metricValue,
  procStats,
  readExactly,
  service,
  type Sluice,
  startSluice,
} from "./_support.ts";
import { delay, waitFor, within } from "../_support/wait.ts";

const dec = new TextDecoder();
let rt: Runtime;

before(async () => {
  rt = await runtime();
});

describe("a flood at max_connections", () => {
  const LIMIT = 10;
  const CLIENTS = 200;
  let s: Sluice;
  let echo: TestServer;
  let port = 0;

  before(async () => {
    echo = startEchoServer(rt);
    port = await freePort(rt);
    s = await startSluice({
      rt,
      routing: service("flood", port, [`${LO4}:${echo.port}`], `max_connections = ${LIMIT}`),
    });
    await s.waitListening([`${LO4}:${port}`]);
  });
  after(async () => {
    await s?.stop();
    echo?.close();
  });

  it(`${CLIENTS} clients at once against max_connections = ${LIMIT}`, {
    timeout: 90_000,
  }, async () => {
    type Outcome = { kind: "served"; c: Conn } | { kind: "refused" | "hung" | "failed" };
    const outcomes = await within(
      Promise.all(Array.from({ length: CLIENTS }, async (): Promise<Outcome> => {
        let c: Conn;
        try {
          c = await rt.connect({ host: LO4, port, timeoutMs: 15_000 });
        } catch {
          return { kind: "failed" };
        }
        try {
          await c.write(bytes("x"));
          const r = await c.read({ signal: AbortSignal.timeout(20_000) });
          if (r !== null && dec.decode(r) === "x") return { kind: "served", c };
          c.close();
          return { kind: "refused" };
        } catch (err) {
          c.close();
          const code = (err as { code?: string }).code;
          return code === "ABORTED" || code === "ETIMEDOUT"
            ? { kind: "hung" }
            : { kind: "refused" };
        }
      })),
      60_000,
      "every client of the flood",
    );
    const served = outcomes.flatMap((o) => (o.kind === "served" ? [o.c] : []));
    const count = (k: string) => outcomes.filter((o) => o.kind === k).length;
    try {
      assert.equal(count("hung"), 0, "no client is left waiting");
      assert.equal(count("failed"), 0, "every TCP connect succeeded");
      assert.equal(served.length, LIMIT, "exactly the limit is admitted");
      assert.equal(count("refused"), CLIENTS - LIMIT);

      const metrics = await s.metrics();
      const label = `listener="${LO4}:${port}"`;
      assert.equal(metricValue(metrics, "sluice_listener_active_connections", label), LIMIT);
      assert.equal(metricValue(metrics, "sluice_listener_refused_total", label), CLIENTS - LIMIT);
      // Admitted connections only: the refused ones are counted apart.
      assert.equal(metricValue(metrics, "sluice_listener_connections_total", label), LIMIT);
      const l = await s.listener(`${LO4}:${port}`);
      assert.equal(l.active_connections, LIMIT);
      assert.equal(l.refused_connections, CLIENTS - LIMIT);
      // The admitted ones are still served while the flood's remains are gone.
      for (const [i, c] of served.entries()) {
        await c.write(bytes(`again-${i}`));
        assert.equal(await readExactly(c, `again-${i}`.length), `again-${i}`);
      }
    } finally {
      for (const c of served) c.close();
    }
    await s.waitIdle(`${LO4}:${port}`);
    const c = await rt.connect({ host: LO4, port, timeoutMs: 10_000 });
    try {
      await c.write(bytes("room"));
      assert.equal(await readExactly(c, 4), "room");
    } finally {
      c.close();
    }
  });
});

describe("slowloris on peek", () => {
  const SILENT = 60;
  const DRIP = 20;
  let s: Sluice;
  let echo: TestServer;
  let port = 0;

  before(async () => {
    echo = startEchoServer(rt);
    port = await freePort(rt);
    s = await startSluice({
      rt,
      peek: true,
      routing: service("peeked", port, [`${LO4}:${echo.port}`]),
    });
    await s.waitListening([`${LO4}:${port}`]);
  });
  after(async () => {
    await s?.stop();
    echo?.close();
  });

  it(`${SILENT} silent and ${DRIP} byte-a-time clients are answered or closed`, {
    timeout: 90_000,
  }, async () => {
    const before = procStats(s.proc.pid);
    // Silent: connect and send nothing. Dripping: one byte every 200 ms.
    const silent = Array.from({ length: SILENT }, async () => {
      const c = await rt.connect({ host: LO4, port: s.peekPort, timeoutMs: 10_000 });
      try {
        return await ending(c, 20_000);
      } finally {
        c.close();
      }
    });
    const drip = Array.from({ length: DRIP }, async () => {
      const c = await rt.connect({ host: LO4, port: s.peekPort, timeoutMs: 10_000 });
      let stop = false;
      const dripping = (async () => {
        for (let i = 0; i < 100 && !stop; i++) {
          await c.write(bytes("G")).catch(() => {
            stop = true;
          });
          await delay(200);
        }
      })();
      try {
        return await ending(c, 20_000);
      } finally {
        stop = true;
        await dripping;
        c.close();
      }
    });
    const ends = await within(Promise.all([...silent, ...drip]), 60_000, "every peek client");
    const open = ends.filter((e) => e.kind === "open").length;
    assert.equal(open, 0, "no peek client is held open");
    // The silent ones read the whole table and a FIN.
    for (const e of ends.slice(0, SILENT)) {
      assert.equal(e.kind, "fin");
      assert.match(e.text, new RegExp(`${LO4}:${port} \\[listening\\]`));
    }
    // Peek and the proxy still work, and no descriptor is left behind.
    const c = await rt.connect({ host: LO4, port: s.peekPort, timeoutMs: 10_000 });
    try {
      const e = await ending(c, 10_000);
      assert.equal(e.kind, "fin");
      assert.match(e.text, /peeked/);
    } finally {
      c.close();
    }
    const p = await rt.connect({ host: LO4, port, timeoutMs: 10_000 });
    try {
      await p.write(bytes("still"));
      assert.equal(await readExactly(p, 5), "still");
    } finally {
      p.close();
    }
    await waitFor(() => procStats(s.proc.pid).fds <= before.fds + 5, {
      timeoutMs: 10_000,
      what: `sluice's descriptors back near ${before.fds}`,
    });
  });
});

describe("SIGTERM with 500 live connections", () => {
  const LIVE = 500;
  let s: Sluice;
  let echo: TestServer;
  let port = 0;

  before(async () => {
    echo = startEchoServer(rt);
    port = await freePort(rt);
    s = await startSluice({
      rt,
      drainTimeout: "4s",
      routing: service("busy", port, [`${LO4}:${echo.port}`]),
      config: `\n[log]\naccess = false\n`,
    });
    await s.waitListening([`${LO4}:${port}`]);
  });
  after(async () => {
    await s?.stop();
    echo?.close();
  });

  it(`every live connection gets its bytes and is closed; exit within drain_timeout + 10 s`, {
    timeout: 120_000,
  }, async () => {
    const conns: Conn[] = [];
    try {
      for (let i = 0; i < LIVE; i += 50) {
        conns.push(
          ...await Promise.all(Array.from({ length: 50 }, async (_, k) => {
            const c = await rt.connect({ host: LO4, port, timeoutMs: 15_000 });
            await c.write(bytes(`pre-${i + k};`));
            await readExactly(c, `pre-${i + k};`.length);
            return c;
          })),
        );
      }
      assert.equal((await s.listener(`${LO4}:${port}`)).active_connections, LIVE);
      // Bytes in flight when the signal lands must still arrive.
      await Promise.all(conns.map((c, i) => c.write(bytes(`last-${i};`))));
      const termAt = Date.now();
      s.proc.signal("SIGTERM");
      const ends = await within(
        Promise.all(conns.map(async (c, i) => {
          const e = await ending(c, 30_000);
          return { ...e, ok: e.text === `last-${i};` };
        })),
        40_000,
        "every live connection to end",
      );
      assert.equal(ends.filter((e) => e.kind === "open").length, 0, "every client is closed");
      assert.equal(ends.filter((e) => !e.ok).length, 0, "every byte in flight was delivered");
      const code = await s.proc.exited(Math.max(1_000, 4_000 + 10_000 - (Date.now() - termAt)));
      assert.equal(code, 0, "a clean exit");
    } finally {
      for (const c of conns) c.close();
    }
  });
});
