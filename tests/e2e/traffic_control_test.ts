// Traffic control end to end (issue 5), against sluice as a process: PROXY protocol towards
// real consumers (HAProxy `accept-proxy`, nginx stream `proxy_protocol`) and from a real
// sender (HAProxy `send-proxy`/`send-proxy-v2`), trusted_proxies, max_connections under a
// burst, idle_timeout, tier failover and failback with passive ejection, and drain by a
// routing edit. Live state is read from the admin API rather than inferred from timing.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeProxyV1, readProxyHeader } from "../../src/proxy/proxy_protocol.ts";
import type { Conn, Listener, Runtime, SockAddr } from "../../src/runtime/types.ts";
import {
  bytes,
  canConnect,
  fetchBanner,
  freePort,
  readAll,
  runtime,
  startEchoServer,
  startServer,
  tempDir,
  type TestServer,
} from "../_support/helpers.ts";
import {
  HAPROXY,
  NGINX,
  type PeerDaemon,
  startHaproxy,
  startNginxStream,
} from "../_support/peer_daemon.ts";
import { type AdminListener, type SluiceFixture, startSluiceFixture } from "./_sluice_fixture.ts";
import { delay, waitFor, within } from "../_support/wait.ts";

const dec = new TextDecoder();
let rt: Runtime;

before(async () => {
  rt = await runtime();
});

const v4 = (host: string, port: number): SockAddr => ({ host, port, family: 4 });
const v6 = (host: string, port: number): SockAddr => ({ host, port, family: 6 });
const LO4 = "127.0.0.1";
const LO6 = "::1";

/** Reads through the first "\n" (bounded) and gives back whatever followed it. */
async function readLine(c: Conn, timeoutMs = 10_000): Promise<string> {
  const signal = AbortSignal.timeout(timeoutMs);
  let text = "";
  for (let i = 0; i < 1000 && !text.includes("\n"); i++) {
    const chunk = await c.read({ signal });
    if (chunk === null) throw new Error(`closed before a line; got ${JSON.stringify(text)}`);
    text += dec.decode(chunk);
  }
  const nl = text.indexOf("\n");
  if (nl + 1 < text.length) c.unshift(bytes(text.slice(nl + 1)));
  return text.slice(0, nl);
}

/** Reads exactly `n` bytes (bounded). */
async function readExactly(c: Conn, n: number, timeoutMs = 10_000): Promise<string> {
  const signal = AbortSignal.timeout(timeoutMs);
  let text = "";
  for (let i = 0; i < 1000 && text.length < n; i++) {
    const chunk = await c.read({ signal });
    if (chunk === null) throw new Error(`closed after ${JSON.stringify(text)}`);
    text += dec.decode(chunk);
  }
  return text;
}

/** Writes `text` and expects it echoed back. */
async function echoes(c: Conn, text: string): Promise<void> {
  await c.write(bytes(text));
  assert.equal(await readExactly(c, text.length), text);
}

interface Ending {
  kind: "fin" | "reset" | "open";
  data: string;
}

/** How the peer ends the connection: FIN, reset, or still open after `timeoutMs`. */
async function ending(c: Conn, timeoutMs: number): Promise<Ending> {
  const signal = AbortSignal.timeout(timeoutMs);
  let data = "";
  for (let i = 0; i < 1000; i++) {
    try {
      const chunk = await c.read({ signal });
      if (chunk === null) return { kind: "fin", data };
      data += dec.decode(chunk);
    } catch {
      return { kind: signal.aborted ? "open" : "reset", data };
    }
  }
  return { kind: "open", data };
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The consumer behind HAProxy: decodes the PROXY header HAProxy sends, answers with the
 * addresses as one JSON line, then echoes.
 */
function startDecoder(): TestServer & { headers: number } {
  const server = startServer(rt, async (c) => {
    try {
      const h = await readProxyHeader(c, { timeoutMs: 5000 });
      decoder.headers++;
      await c.write(bytes(JSON.stringify(h) + "\n"));
      for (let i = 0; i < 10_000; i++) {
        const chunk = await c.read();
        if (chunk === null) break;
        await c.write(chunk);
      }
      await c.closeWrite().catch(() => {});
    } finally {
      c.close();
    }
  });
  const decoder = Object.assign(server, { headers: 0 });
  return decoder;
}

/** Connects to sluice, sends a payload, and returns the consumer's decoded addresses. */
async function decodedThrough(
  host: string,
  port: number,
): Promise<{ seen: { src?: SockAddr; dst?: SockAddr }; client: SockAddr }> {
  const c = await rt.connect({ host, port, timeoutMs: 5000 });
  try {
    await c.write(bytes("hello"));
    const seen = JSON.parse(await readLine(c)) as { src?: SockAddr; dst?: SockAddr };
    assert.equal(await readExactly(c, 5), "hello", "the payload after the header is intact");
    await echoes(c, " and more");
    return { seen, client: c.local };
  } finally {
    c.close();
  }
}

function findListener(ls: AdminListener[], key: string): AdminListener {
  const l = ls.find((x) => x.address === key);
  assert.ok(l, `listener ${key} in ${ls.map((x) => x.address).join(", ")}`);
  return l;
}

/** A named server on a chosen port (so a stopped backend can come back on the same address). */
function namedServerOn(name: string, port: number): { port: number; close(): void } {
  const open = new Set<Conn>();
  const l: Listener = rt.listen({ host: LO4, port }, (c) => {
    open.add(c);
    void (async () => {
      try {
        await c.write(bytes(name));
        await c.closeWrite();
        for (let i = 0; i < 1000; i++) if ((await c.read()) === null) break;
      } catch { /* the test sees the effect */ }
      c.close();
      open.delete(c);
    })();
  });
  return {
    port: l.addr.port,
    close() {
      l.close();
      for (const c of open) c.close();
    },
  };
}

/** Writes `name\n` to each client, then echoes: which backend a long-lived connection has. */
function startNamedEcho(name: string): TestServer {
  return startServer(rt, async (c) => {
    await c.write(bytes(name + "\n"));
    for (let i = 0; i < 10_000; i++) {
      const chunk = await c.read();
      if (chunk === null) break;
      await c.write(chunk);
    }
    await c.closeWrite().catch(() => {});
    c.close();
  });
}

describe(
  "sluice sends PROXY headers that real consumers accept",
  { skip: HAPROXY ? false : "haproxy is not installed (tests/_support/install_peers.sh)" },
  () => {
    let dir: { path: string; remove(): Promise<void> };
    let decoder: ReturnType<typeof startDecoder>;
    let haproxy: PeerDaemon | undefined;
    let nginx: PeerDaemon | undefined;
    let fx: SluiceFixture | undefined;
    const p = { hpIn: 0, ngxIn: 0, v1hp: 0, v2hp: 0, v1ngx: 0, v2ngx: 0 };
    const p6 = { v1hp: 0, v2hp: 0, v1ngx: 0, v2ngx: 0 };

    before(async () => {
      dir = await tempDir("sluice-pp-out-");
      decoder = startDecoder();
      for (const k of Object.keys(p) as (keyof typeof p)[]) p[k] = await freePort(rt);
      for (const k of Object.keys(p6) as (keyof typeof p6)[]) p6[k] = await freePort(rt, LO6);
      // HAProxy takes our header (accept-proxy) and re-sends its own v2 to the decoder: what
      // reaches the decoder is what HAProxy understood from sluice.
      haproxy = await startHaproxy(
        dir.path,
        `frontend from_sluice
  bind ${LO4}:${p.hpIn} accept-proxy
  default_backend to_decoder
backend to_decoder
  server decoder ${LO4}:${decoder.port} send-proxy-v2
`,
        { rt, ready: [{ host: LO4, port: p.hpIn }] },
      );
      if (NGINX) {
        // nginx answers with the addresses it parsed from sluice's header and closes.
        nginx = await startNginxStream(
          dir.path,
          `  server {
    listen ${LO4}:${p.ngxIn} proxy_protocol;
    return "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port\\n";
  }`,
          { rt, ready: [{ host: LO4, port: p.ngxIn }] },
        );
      }
      const svc = (name: string, v: "v1" | "v2", port: number, port6: number, to: number) =>
        `[[services]]
name = "${name}"
listeners = ["local:${port}", "v6:${port6}"]
backends = ["${LO4}:${to}"]
proxy_protocol = "${v}"
`;
      fx = await startSluiceFixture({
        rt,
        routing: svc("v1hp", "v1", p.v1hp, p6.v1hp, p.hpIn) +
          svc("v2hp", "v2", p.v2hp, p6.v2hp, p.hpIn) +
          svc("v1ngx", "v1", p.v1ngx, p6.v1ngx, p.ngxIn) +
          svc("v2ngx", "v2", p.v2ngx, p6.v2ngx, p.ngxIn),
      });
      await fx.waitListening([
        ...[p.v1hp, p.v2hp, p.v1ngx, p.v2ngx].map((x) => hostPort(LO4, x)),
        ...[p6.v1hp, p6.v2hp, p6.v1ngx, p6.v2ngx].map((x) => hostPort(LO6, x)),
      ]);
    });

    after(async () => {
      await fx?.stop();
      await haproxy?.stop();
      await nginx?.stop();
      decoder?.close();
      await dir?.remove();
    });

    for (const v of ["v1", "v2"] as const) {
      it(`${v} over IPv4: HAProxy passes on the client's address and source port`, {
        timeout: 30_000,
      }, async () => {
        const port = v === "v1" ? p.v1hp : p.v2hp;
        const { seen, client } = await decodedThrough(LO4, port);
        assert.equal(client.host, LO4);
        assert.deepEqual(seen, { src: v4(LO4, client.port), dst: v4(LO4, port) });
      });

      it(`${v} over IPv6: a client on ::1 reaches HAProxy's consumer as ::1`, {
        timeout: 30_000,
      }, async () => {
        const port = v === "v1" ? p6.v1hp : p6.v2hp;
        const { seen, client } = await decodedThrough(LO6, port);
        assert.equal(client.host, LO6);
        assert.deepEqual(seen, { src: v6(LO6, client.port), dst: v6(LO6, port) });
      });

      for (const [fam, host] of [["IPv4", LO4], ["IPv6", LO6]] as const) {
        it(`${v} over ${fam}: nginx's $proxy_protocol_addr/port are the client's`, {
          timeout: 30_000,
          skip: NGINX ? false : "nginx with the stream module is not installed",
        }, async () => {
          const port = host === LO4
            ? (v === "v1" ? p.v1ngx : p.v2ngx)
            : (v === "v1" ? p6.v1ngx : p6.v2ngx);
          const c = await rt.connect({ host, port, timeoutMs: 5000 });
          try {
            const said = await readAll(c, { timeoutMs: 10_000 });
            assert.equal(said, `${host} ${c.local.port} ${host} ${port}\n`);
          } finally {
            c.close();
          }
        });
      }
    }
  },
);

describe(
  "sluice behind HAProxy send-proxy: accept_proxy_protocol and trusted_proxies",
  { skip: HAPROXY ? false : "haproxy is not installed (tests/_support/install_peers.sh)" },
  () => {
    let dir: { path: string; remove(): Promise<void> };
    let decoder: ReturnType<typeof startDecoder>;
    let haproxy: PeerDaemon | undefined;
    let fx: SluiceFixture | undefined;
    const p = { trusted: 0, untrusted: 0, hpV2: 0, hpV1: 0, hpUntrusted: 0, hpV6: 0 };

    before(async () => {
      dir = await tempDir("sluice-pp-in-");
      decoder = startDecoder();
      for (const k of Object.keys(p) as (keyof typeof p)[]) {
        p[k] = await freePort(rt, k === "hpV6" ? LO6 : LO4);
      }
      fx = await startSluiceFixture({
        rt,
        routing: `[[services]]
name = "trusted"
listener = "local:${p.trusted}"
backends = ["${LO4}:${decoder.port}"]
accept_proxy_protocol = true
trusted_proxies = ["127.0.0.1/32"]
proxy_protocol = "v1"

[[services]]
name = "untrusted"
listener = "local:${p.untrusted}"
backends = ["${LO4}:${decoder.port}"]
accept_proxy_protocol = true
trusted_proxies = ["10.0.0.0/8"]
proxy_protocol = "v1"
`,
      });
      await fx.waitListening([hostPort(LO4, p.trusted), hostPort(LO4, p.untrusted)]);
      haproxy = await startHaproxy(
        dir.path,
        `frontend v2_in
  bind ${LO4}:${p.hpV2}
  default_backend sluice_v2
frontend v1_in
  bind ${LO4}:${p.hpV1}
  default_backend sluice_v1
frontend v6_in
  bind ipv6@${LO6}:${p.hpV6}
  default_backend sluice_v2
frontend untrusted_in
  bind ${LO4}:${p.hpUntrusted}
  default_backend sluice_untrusted
backend sluice_v2
  server s ${LO4}:${p.trusted} send-proxy-v2
backend sluice_v1
  server s ${LO4}:${p.trusted} send-proxy
backend sluice_untrusted
  server s ${LO4}:${p.untrusted} send-proxy-v2
`,
        {
          rt,
          ready: [
            { host: LO4, port: p.hpV2 },
            { host: LO4, port: p.hpV1 },
            { host: LO6, port: p.hpV6 },
            { host: LO4, port: p.hpUntrusted },
          ],
        },
      );
    });

    after(async () => {
      await haproxy?.stop();
      await fx?.stop();
      decoder?.close();
      await dir?.remove();
    });

    for (
      const [name, port, host] of [
        ["send-proxy-v2", () => p.hpV2, LO4],
        ["send-proxy (v1)", () => p.hpV1, LO4],
        ["send-proxy-v2 from a ::1 client", () => p.hpV6, LO6],
      ] as const
    ) {
      it(`HAProxy ${name}: the backend sees the address HAProxy saw, not HAProxy's`, {
        timeout: 30_000,
      }, async () => {
        const { seen, client } = await decodedThrough(host, port());
        const fam = host === LO4 ? v4 : v6;
        // src: the client's own address and port (HAProxy's outgoing port would differ);
        // dst: the HAProxy frontend the client dialled, carried through sluice.
        assert.deepEqual(seen, { src: fam(host, client.port), dst: fam(host, port()) });
        // The access line is written when the connection ends, after HAProxy closes.
        await waitFor(
          () =>
            fx!.sluice.lines.some((l) => l.includes(`client_addr=${hostPort(host, client.port)}`)),
          { timeoutMs: 10_000, what: "the access log to name the real client" },
        );
      });
    }

    it("a source outside trusted_proxies is closed before any backend is dialled", {
      timeout: 30_000,
    }, async () => {
      const before = decoder.accepted;
      // Through HAProxy: a well-formed header from 127.0.0.1, which is not 10.0.0.0/8.
      const viaHaproxy = await rt.connect({ host: LO4, port: p.hpUntrusted, timeoutMs: 5000 });
      try {
        await viaHaproxy.write(bytes("hello"));
        const e = await ending(viaHaproxy, 10_000);
        assert.notEqual(e.kind, "open", "closed, not hung");
        assert.equal(e.data, "");
      } finally {
        viaHaproxy.close();
      }
      // Directly, with a valid v1 header.
      const direct = await rt.connect({ host: LO4, port: p.untrusted, timeoutMs: 5000 });
      try {
        await direct.write(encodeProxyV1(v4("192.0.2.1", 1234), v4(LO4, p.untrusted)))
          .catch(() => {});
        const e = await ending(direct, 10_000);
        assert.notEqual(e.kind, "open", "closed, not hung");
        assert.equal(e.data, "");
      } finally {
        direct.close();
      }
      await fx!.sluice.waitForLine(/untrusted source/, 5000);
      assert.ok(
        fx!.sluice.lines.some((l) =>
          /untrusted source/.test(l) && l.includes(hostPort(LO4, p.untrusted))
        ),
        "the warning names the listener",
      );
      await delay(200);
      assert.equal(decoder.accepted, before, "no backend connection was made");
    });

    for (
      const [name, payload, re] of [
        ["a truncated v1 line", "PROXY TCP4 192.0.2.1\r\n", /6 fields/],
        ["plain HTTP instead of a header", "GET / HTTP/1.0\r\n\r\n", /signature/],
        ["a broken v2 signature", "\r\n\r\n\0\r\nQUIT\x0b\x21\x11\0\x0c", /signature/],
      ] as const
    ) {
      it(`${name} from a trusted source is closed and logged`, { timeout: 30_000 }, async () => {
        const before = decoder.accepted;
        const logged = fx!.sluice.lines.length;
        const c = await rt.connect({ host: LO4, port: p.trusted, timeoutMs: 5000 });
        try {
          await c.write(bytes(payload)).catch(() => {});
          const e = await ending(c, 10_000);
          assert.notEqual(e.kind, "open", "closed, not hung");
          assert.equal(e.data, "");
        } finally {
          c.close();
        }
        const line = await waitFor(
          () =>
            fx!.sluice.lines.slice(logged).find((l) =>
              /bad PROXY header/.test(l) && l.includes(`client_addr=${hostPort(LO4, c.local.port)}`)
            ),
          { timeoutMs: 5000, what: "the bad-header warning" },
        );
        assert.match(line, re);
        await delay(200);
        assert.equal(decoder.accepted, before, "no backend connection was made");
      });
    }

    it("a trusted source that never sends its header is closed (bounded wait)", {
      timeout: 30_000,
    }, async () => {
      const before = decoder.accepted;
      const c = await rt.connect({ host: LO4, port: p.trusted, timeoutMs: 5000 });
      try {
        const e = await ending(c, 15_000);
        assert.notEqual(e.kind, "open", "closed within 15 s");
      } finally {
        c.close();
      }
      assert.equal(decoder.accepted, before);
    });
  },
);

/**
 * Registers before/after hooks that start an echo backend behind one sluice listener whose
 * service has the `settings` lines; the returned object holds the port and fixture once started.
 */
function echoServiceSuite(name: string, settings: string): { port: number; fx: SluiceFixture } {
  let echo: TestServer | undefined;
  const suite = { port: 0, fx: undefined as unknown as SluiceFixture };
  before(async () => {
    echo = startEchoServer(rt);
    suite.port = await freePort(rt);
    suite.fx = await startSluiceFixture({
      rt,
      routing: `[[services]]
name = "${name}"
listener = "local:${suite.port}"
backends = ["${LO4}:${echo.port}"]
${settings}
`,
    });
    await suite.fx.waitListening([hostPort(LO4, suite.port)]);
  });
  after(async () => {
    await suite.fx?.stop();
    echo?.close();
  });
  return suite;
}

describe("max_connections under a burst", () => {
  const LIMIT = 50;
  const BURST = 500;
  const suite = echoServiceSuite("limited", `max_connections = ${LIMIT}`);

  it(`${BURST} concurrent clients: ${LIMIT} served, the rest closed at once, the served go on`, {
    timeout: 120_000,
  }, async () => {
    type Outcome = { kind: "served"; c: Conn } | { kind: "refused" | "hung" | "connect_failed" };
    const outcomes = await within(
      Promise.all(Array.from({ length: BURST }, async (): Promise<Outcome> => {
        let c: Conn;
        try {
          c = await rt.connect({ host: LO4, port: suite.port, timeoutMs: 15_000 });
        } catch {
          return { kind: "connect_failed" };
        }
        try {
          await c.write(bytes("x"));
          const e = await c.read({ signal: AbortSignal.timeout(20_000) });
          if (e !== null && dec.decode(e) === "x") return { kind: "served", c };
          c.close();
          return { kind: "refused" };
        } catch (err) {
          c.close();
          return (err as { code?: string }).code === "ETIMEDOUT" ||
              (err as { code?: string }).code === "ABORTED"
            ? { kind: "hung" }
            : { kind: "refused" };
        }
      })),
      90_000,
      "every client of the burst to finish",
    );
    const served = outcomes.flatMap((o) => o.kind === "served" ? [o.c] : []);
    try {
      const count = (k: string) => outcomes.filter((o) => o.kind === k).length;
      assert.equal(count("hung"), 0, "no client waits without an answer");
      assert.equal(count("connect_failed"), 0);
      assert.equal(served.length, LIMIT);
      assert.equal(count("refused"), BURST - LIMIT);

      const l = findListener(await suite.fx.listeners(), hostPort(LO4, suite.port));
      assert.equal(l.active_connections, LIMIT);
      assert.equal(l.refused_connections, BURST - LIMIT);
      const metrics = await suite.fx.metrics();
      const m = metrics.match(
        new RegExp(
          `^sluice_listener_refused_total\\{[^}]*listener="${LO4}:${suite.port}"[^}]*\\} (\\d+)`,
          "m",
        ),
      );
      assert.ok(m, "sluice_listener_refused_total has a series for the listener");
      assert.equal(Number(m[1]), BURST - LIMIT);

      // The held connections still carry bytes both ways.
      await Promise.all(served.map((c, i) => echoes(c, `after-${i};`)));
    } finally {
      for (const c of served) c.close();
    }
    // Capacity comes back once they are gone.
    await waitFor(
      async () =>
        findListener(await suite.fx.listeners(), hostPort(LO4, suite.port)).active_connections ===
          0,
      {
        timeoutMs: 10_000,
        what: "the served connections to end",
      },
    );
    const again = await rt.connect({ host: LO4, port: suite.port, timeoutMs: 5000 });
    try {
      await echoes(again, "room again");
    } finally {
      again.close();
    }
  });
});

describe("idle_timeout", () => {
  const suite = echoServiceSuite("idle", `idle_timeout = "500ms"`);

  it("closes a silent connection after about 500ms while a chatty one stays open", {
    timeout: 30_000,
  }, async () => {
    const idle = await rt.connect({ host: LO4, port: suite.port, timeoutMs: 5000 });
    const chatty = await rt.connect({ host: LO4, port: suite.port, timeoutMs: 5000 });
    try {
      await echoes(idle, "a");
      await echoes(chatty, "a");
      const lastByte = Date.now();
      const idleEnd = (async () => {
        const e = await ending(idle, 5000);
        return { e, after: Date.now() - lastByte };
      })();
      const chattyRun = (async () => {
        // A byte every 100 ms for well past 1.5 s.
        for (let i = 0; Date.now() - lastByte < 1800 && i < 100; i++) {
          await delay(100);
          await echoes(chatty, "k");
        }
      })();
      const { e, after } = await idleEnd;
      assert.notEqual(e.kind, "open", "the idle connection is closed within 5 s");
      assert.ok(after >= 300, `closed after ${after} ms, not before 300 ms`);
      await chattyRun;
      assert.ok(Date.now() - lastByte >= 1500);
      await echoes(chatty, "still open");
    } finally {
      idle.close();
      chatty.close();
    }
    await suite.fx.sluice.waitForLine(/reason=idle/, 5000);
  });
});

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
