// The engine on a listener that routes by TLS server name, over real loopback sockets: PROXY
// headers sent to a backend go before the replayed ClientHello, a PROXY header accepted from a
// trusted peer comes before it, a name without a service and without a default is closed and
// counted, and a plain listener reads nothing before dialing (server-speaks-first works).
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createEngine, type Engine } from "../../../src/proxy/engine.ts";
import { configureLogging, createLogger } from "../../../src/log.ts";
import { encodeProxyV1 } from "../../../src/proxy/proxy_protocol.ts";
import type { Conn, Runtime } from "../../../src/runtime/types.ts";
import {
  bytes,
  freePort,
  runtime,
  startNamedServer,
  startServer,
  type TestServer,
} from "../../_support/helpers.ts";
import { waitFor } from "../../_support/wait.ts";
import { exchange, HELLO, tableOf } from "./_engine_sni_setup.ts";

const dec = new TextDecoder();
let rt: Runtime;

before(async () => {
  rt = await runtime();
  configureLogging({ level: "warn", format: "json", write: () => {} });
});

function engine(): Engine {
  return createEngine({ rt, log: createLogger("test"), drainTimeoutMs: 500, bindRetryMs: 200 });
}

/** Records every byte each connection sends, until FIN. */
function startRecorder(): TestServer & { got: Uint8Array[] } {
  const got: Uint8Array[] = [];
  const s = startServer(rt, async (c: Conn) => {
    const parts: number[] = [];
    for (;;) {
      const chunk = await c.read({ signal: AbortSignal.timeout(10_000) }).catch(() => null);
      if (chunk === null) break;
      parts.push(...chunk);
    }
    got.push(Uint8Array.from(parts));
    c.close();
  });
  return Object.assign(s, { got });
}

const send = (port: number, data: Uint8Array) => exchange(rt, port, data);

describe("engine: a listener routing by server name", () => {
  it("a sent PROXY header goes first, then the ClientHello exactly as the client sent it", async () => {
    const rec = startRecorder();
    const port = await freePort(rt);
    const e = engine();
    try {
      e.apply(tableOf([{
        name: "db",
        listener: `local:${port}`,
        sni: ["db.example.com"],
        proxy_protocol: "v1",
        backends: [`127.0.0.1:${rec.port}`],
      }]));
      await waitFor(() => e.listeners()[0]?.state === "listening");
      await send(port, HELLO);
      await waitFor(() => rec.got.length === 1, { timeoutMs: 10_000, what: "the backend's bytes" });
      const got = rec.got[0]!;
      const text = dec.decode(got);
      assert.match(text, /^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\n/);
      const header = text.indexOf("\r\n") + 2;
      assert.deepEqual(got.subarray(header), HELLO);
    } finally {
      await e.shutdown();
      rec.close();
    }
  });

  it("an accepted PROXY header is read before the ClientHello; the name still routes", async () => {
    const db = startNamedServer(rt, "db");
    const other = startNamedServer(rt, "other");
    const port = await freePort(rt);
    const e = engine();
    try {
      e.apply(tableOf([
        {
          name: "db",
          listener: `local:${port}`,
          sni: ["db.example.com"],
          accept_proxy_protocol: true,
          trusted_proxies: ["127.0.0.1/32"],
          backends: [`127.0.0.1:${db.port}`],
        },
        {
          name: "other",
          listener: `local:${port}`,
          accept_proxy_protocol: true,
          trusted_proxies: ["127.0.0.1/32"],
          backends: [`127.0.0.1:${other.port}`],
        },
      ]));
      await waitFor(() => e.listeners()[0]?.state === "listening");
      const header = encodeProxyV1(
        { host: "10.1.2.3", port: 5555, family: 4 },
        { host: "10.0.0.1", port: 443, family: 4 },
      );
      const both = new Uint8Array(header.length + HELLO.length);
      both.set(header);
      both.set(HELLO, header.length);
      assert.equal(dec.decode((await send(port, both)) ?? new Uint8Array()), "db");
      const plain = new Uint8Array([...header, ...bytes("GET / HTTP/1.0\r\n\r\n")]);
      assert.equal(dec.decode((await send(port, plain)) ?? new Uint8Array()), "other");
    } finally {
      await e.shutdown();
      db.close();
      other.close();
    }
  });

  it("no service for the name and no default: closed and counted", async () => {
    const rec = startRecorder();
    const port = await freePort(rt);
    const e = engine();
    try {
      e.apply(tableOf([{
        name: "apps",
        listener: `local:${port}`,
        sni: ["*.apps.example.com"],
        backends: [`127.0.0.1:${rec.port}`],
      }]));
      await waitFor(() => e.listeners()[0]?.state === "listening");
      assert.equal(await send(port, HELLO), null);
      assert.equal(await send(port, bytes("not tls at all")), null);
      await waitFor(() => e.listeners()[0]?.sni?.unmatched === 2, { what: "two unmatched" });
      assert.equal(rec.accepted, 0);
      assert.deepEqual(e.listeners()[0]?.sni?.routes.map((r) => [r.service, r.total]), [
        ["apps", 0],
      ]);
    } finally {
      await e.shutdown();
      rec.close();
    }
  });

  it("a plain listener reads nothing before dialing: a server that speaks first is heard", async () => {
    const banner = startNamedServer(rt, "hello from the server");
    const port = await freePort(rt);
    const e = engine();
    try {
      e.apply(tableOf([{
        name: "smtp",
        listener: `local:${port}`,
        backends: [`127.0.0.1:${banner.port}`],
      }]));
      await waitFor(() => e.listeners()[0]?.state === "listening");
      assert.equal(e.listeners()[0]?.sni, undefined);
      // The client sends nothing and keeps its side open: only the server speaks.
      const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 5000 });
      try {
        const got = await c.read({ signal: AbortSignal.timeout(10_000) });
        assert.equal(dec.decode(got ?? new Uint8Array()), "hello from the server");
      } finally {
        c.close();
      }
    } finally {
      await e.shutdown();
      banner.close();
    }
  });

  it("health checks and admin drains work per service pool", async () => {
    const up = startNamedServer(rt, "up");
    const closed = await freePort(rt); // nothing listens there
    const port = await freePort(rt);
    const e = engine();
    try {
      e.apply(tableOf([
        {
          name: "a",
          listener: `local:${port}`,
          sni: ["a.test"],
          health: { interval: "100ms", timeout: "100ms", fall: 1, rise: 1 },
          backends: [`127.0.0.1:${closed}`],
        },
        { name: "b", listener: `local:${port}`, backends: [`127.0.0.1:${up.port}`] },
      ]));
      const key = `127.0.0.1:${port}`;
      const backendOf = (service: string) =>
        e.listeners()[0]?.backends.find((b) => b.service === service);
      await waitFor(() => backendOf("a")?.health === "down", {
        timeoutMs: 10_000,
        what: "service a's backend checked down",
      });
      assert.equal(backendOf("b")?.health, "unknown");
      assert.equal(e.setDrain(key, `127.0.0.1:${up.port}`, true), true);
      assert.equal(backendOf("b")?.drain, true);
      assert.equal(backendOf("a")?.drain, false);
    } finally {
      await e.shutdown();
      up.close();
    }
  });
});
