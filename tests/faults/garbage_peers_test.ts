// Garbage from peers (issue 12, fault suite): malformed and truncated PROXY v1/v2 headers from a
// trusted client are closed and logged while well-formed clients next to them are served; a
// malicious SOCKS5 server (wrong version, a huge or truncated reply, one byte a second) makes
// the connection fail cleanly within the connect timeout, without a crash, and the next
// connection through a good path works.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeProxyV1, encodeProxyV2 } from "../../src/proxy/proxy_protocol.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import {
  bytes,
  freePort,
  runtime,
  startEchoServer,
  startServer,
  type TestServer,
} from "../_support/helpers.ts";
import {
  ending,
  LO4,
  randomBytes,
  readExactly,
  service,
  type Sluice,
  startSluice,
} from "./_support.ts";
import { delay, waitFor, within } from "../_support/wait.ts";

let rt: Runtime;

before(async () => {
  rt = await runtime();
});

function cat(...parts: (Uint8Array | number[] | string)[]): Uint8Array {
  const bs = parts.map((p) =>
    typeof p === "string" ? bytes(p) : p instanceof Uint8Array ? p : new Uint8Array(p)
  );
  const out = new Uint8Array(bs.reduce((n, b) => n + b.length, 0));
  let off = 0;
  for (const b of bs) {
    out.set(b, off);
    off += b.length;
  }
  return out;
}

const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** Each sent whole; `fin` then half-closes (a truncated header), otherwise the client waits. */
const BAD_HEADERS: { name: string; data: Uint8Array; fin: boolean }[] = [
  { name: "no signature (HTTP)", data: bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), fin: false },
  { name: "v1 garbage protocol", data: bytes("PROXY GARBAGE 1 2 3 4\r\n"), fin: false },
  { name: "v1 bad address", data: bytes("PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n"), fin: false },
  { name: "v1 bad port", data: bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n"), fin: false },
  { name: "v1 too long", data: bytes("PROXY TCP4 " + "1".repeat(200)), fin: false },
  { name: "v1 truncated", data: bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1"), fin: true },
  { name: "v2 bad version", data: cat(SIG, [0x31, 0x11, 0, 12], new Uint8Array(12)), fin: false },
  { name: "v2 bad command", data: cat(SIG, [0x2f, 0x11, 0, 12], new Uint8Array(12)), fin: false },
  { name: "v2 short for TCP4", data: cat(SIG, [0x21, 0x11, 0, 4], new Uint8Array(4)), fin: false },
  { name: "v2 truncated", data: cat(SIG, [0x21, 0x11, 0xff, 0xff], new Uint8Array(10)), fin: true },
  { name: "v2 signature cut", data: new Uint8Array(SIG.slice(0, 7)), fin: true },
  { name: "random bytes", data: cat([0x99], randomBytes(300)), fin: false },
];

describe("garbage PROXY headers from a trusted client", () => {
  let s: Sluice;
  let echo: TestServer;
  let port = 0;

  before(async () => {
    echo = startEchoServer(rt);
    port = await freePort(rt);
    s = await startSluice({
      rt,
      routing: service(
        "trusted",
        port,
        [`${LO4}:${echo.port}`],
        `accept_proxy_protocol = true\ntrusted_proxies = ["127.0.0.1/32"]`,
      ),
    });
    await s.waitListening([`${LO4}:${port}`]);
  });
  after(async () => {
    await s?.stop();
    echo?.close();
  });

  it(`${BAD_HEADERS.length} malformed headers are closed and logged; good clients go on`, {
    timeout: 60_000,
  }, async () => {
    const src = { host: "203.0.113.7", port: 40000, family: 4 as const };
    const dst = { host: LO4, port, family: 4 as const };
    // Good clients, v1 and v2, ping-pong all through the garbage.
    let stop = false;
    let started = 0;
    const good = Array.from({ length: 4 }, async (_, i) => {
      const c = await rt.connect({ host: LO4, port, timeoutMs: 10_000 });
      try {
        await c.write(i % 2 ? encodeProxyV2(src, dst) : encodeProxyV1(src, dst));
        let n = 0;
        for (; n < 10_000 && (!stop || n < 5); n++) {
          await c.write(bytes(`m${n};`));
          assert.equal(await readExactly(c, `m${n};`.length), `m${n};`);
          if (n === 0) started++;
          await delay(20);
        }
        return n;
      } finally {
        c.close();
      }
    });
    await waitFor(() => started === 4, { timeoutMs: 20_000, what: "the good clients" });
    const logged = s.proc.lines.length;
    const acceptedBefore = echo.accepted;
    const bad = BAD_HEADERS.map(async (h) => {
      const c = await rt.connect({ host: LO4, port, timeoutMs: 10_000 });
      try {
        await c.write(h.data).catch(() => {});
        if (h.fin) await c.closeWrite().catch(() => {});
        // A header must be complete within 5 s: 20 s is a generous bound.
        return { name: h.name, end: await ending(c, 20_000) };
      } finally {
        c.close();
      }
    });
    const results = await within(Promise.all(bad), 40_000, "every bad client");
    stop = true;
    const rounds = await within(Promise.all(good), 30_000, "the good clients");
    for (const r of results) {
      assert.notEqual(r.end.kind, "open", `${r.name}: closed`);
      assert.equal(r.end.bytes, 0, `${r.name}: nothing came back`);
    }
    assert.ok(rounds.every((n) => n >= 5), "the good clients were served throughout");
    await waitFor(
      () =>
        s.proc.lines.slice(logged).filter((l) => /bad PROXY header/.test(l)).length >=
          BAD_HEADERS.length,
      { timeoutMs: 10_000, what: "one warning per bad header" },
    );
    // Only the good clients reached the backend.
    assert.equal(echo.accepted - acceptedBefore, 0);
    await s.waitIdle(`${LO4}:${port}`);
  });
});

type Mode = "wrong-version" | "huge-greeting" | "huge-reply" | "truncated" | "drip";
const MODES: Mode[] = ["wrong-version", "huge-greeting", "huge-reply", "truncated", "drip"];

/** A SOCKS5 server that misbehaves in one way; counts its connections and their ends. */
function maliciousSocks(mode: Mode): TestServer & { ended: number } {
  const server = startServer(rt, async (c) => {
    try {
      await c.read({ signal: AbortSignal.timeout(10_000) }); // the greeting
      switch (mode) {
        case "wrong-version":
          await c.write(new Uint8Array([0x04, 0x00]));
          break;
        case "huge-greeting":
          await c.write(new Uint8Array(1 << 20).fill(0x05));
          break;
        case "huge-reply": {
          await c.write(new Uint8Array([0x05, 0x00]));
          await c.read({ signal: AbortSignal.timeout(10_000) }); // the CONNECT
          await c.write(cat([0x05, 0x00, 0x00, 0x09], randomBytes(1 << 20)));
          break;
        }
        case "truncated":
          await c.write(new Uint8Array([0x05, 0x00]));
          await c.read({ signal: AbortSignal.timeout(10_000) });
          await c.write(new Uint8Array([0x05, 0x00, 0x00, 0x01, 127]));
          await c.closeWrite();
          break;
        case "drip": {
          // A valid answer, one byte a second, far slower than connect_timeout allows.
          const answer = [0x05, 0x00, 0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0x1f, 0x90];
          for (const b of answer) {
            await c.write(new Uint8Array([b]));
            await delay(1000);
          }
          break;
        }
      }
      // Wait for sluice to hang up (bounded).
      for (let i = 0; i < 10_000; i++) {
        if ((await c.read({ signal: AbortSignal.timeout(20_000) })) === null) break;
      }
      server.ended++;
    } catch {
      server.ended++; // reset by sluice, or it never hung up (then `ended` lags and fails)
    } finally {
      c.close();
    }
  }) as TestServer & { ended: number };
  server.ended = 0;
  return server;
}

describe("a malicious SOCKS5 server", () => {
  let s: Sluice;
  let echo: TestServer;
  const socks = new Map<Mode, TestServer & { ended: number }>();
  const ports = new Map<Mode, number>();
  let good = 0;

  before(async () => {
    echo = startEchoServer(rt);
    good = await freePort(rt);
    let routing = service("good", good, [`${LO4}:${echo.port}`]);
    for (const m of MODES) {
      socks.set(m, maliciousSocks(m));
      ports.set(m, await freePort(rt));
      routing += service(
        m,
        ports.get(m)!,
        [`${LO4}:${echo.port}`],
        `proxy = "socks5://${LO4}:${
          socks.get(m)!.port
        }"\nconnect_timeout = "1s"\nconnect_attempts = 1`,
      );
    }
    s = await startSluice({ rt, routing });
    await s.waitListening([good, ...ports.values()].map((p) => `${LO4}:${p}`));
  });
  after(async () => {
    await s?.stop();
    echo?.close();
    for (const x of socks.values()) x.close();
  });

  for (const m of MODES) {
    it(`${m}: the client is closed, sluice hangs up on the proxy, the good path still works`, {
      timeout: 60_000,
    }, async () => {
      const proxy = socks.get(m)!;
      const port = ports.get(m)!;
      const echoed = echo.accepted;
      const c = await rt.connect({ host: LO4, port, timeoutMs: 10_000 });
      let end;
      try {
        await c.write(bytes("hello?"));
        end = await ending(c, 20_000);
      } finally {
        c.close();
      }
      assert.notEqual(end.kind, "open", "the client is closed");
      assert.equal(end.bytes, 0, "nothing from a failed handshake reaches the client");
      assert.equal(proxy.accepted, 1, "one attempt through the proxy");
      await waitFor(() => proxy.ended === 1, {
        timeoutMs: 25_000,
        what: "sluice to hang up on the proxy",
      });
      assert.equal(echo.accepted, echoed, "the backend was never reached");
      await s.waitIdle(`${LO4}:${port}`);
      // The process is alive and the good path serves.
      assert.equal(s.proc.child.exitCode, null);
      const g = await rt.connect({ host: LO4, port: good, timeoutMs: 10_000 });
      try {
        await g.write(bytes("fine"));
        assert.equal(await readExactly(g, 4), "fine");
      } finally {
        g.close();
      }
    });
  }
});
