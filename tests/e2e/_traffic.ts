// Shared pieces of the traffic-control end-to-end tests (issue 5): bounded reads, a PROXY
// header decoder backend, named backends and one-service sluice suites.
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { readProxyHeader } from "../../src/proxy/proxy_protocol.ts";
import type { Conn, Listener, Runtime, SockAddr } from "../../src/runtime/types.ts";
import {
  bytes,
  freePort,
  runtime,
  startEchoServer,
  startServer,
  type TestServer,
} from "../_support/helpers.ts";
import { type AdminListener, type SluiceFixture, startSluiceFixture } from "./_sluice_fixture.ts";

export const dec = new TextDecoder();
export const rt: Runtime = await runtime();

export const v4 = (host: string, port: number): SockAddr => ({ host, port, family: 4 });
export const v6 = (host: string, port: number): SockAddr => ({ host, port, family: 6 });
export const LO4 = "127.0.0.1";
export const LO6 = "::1";

/** Reads through the first "\n" (bounded) and gives back whatever followed it. */
export async function readLine(c: Conn, timeoutMs = 10_000): Promise<string> {
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
export async function readExactly(c: Conn, n: number, timeoutMs = 10_000): Promise<string> {
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
export async function echoes(c: Conn, text: string): Promise<void> {
  await c.write(bytes(text));
  assert.equal(await readExactly(c, text.length), text);
}

export interface Ending {
  kind: "fin" | "reset" | "open";
  data: string;
}

/** How the peer ends the connection: FIN, reset, or still open after `timeoutMs`. */
export async function ending(c: Conn, timeoutMs: number): Promise<Ending> {
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

export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The consumer behind HAProxy: decodes the PROXY header HAProxy sends, answers with the
 * addresses as one JSON line, then echoes.
 */
export function startDecoder(): TestServer & { headers: number } {
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
export async function decodedThrough(
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

export function findListener(ls: AdminListener[], key: string): AdminListener {
  const l = ls.find((x) => x.address === key);
  assert.ok(l, `listener ${key} in ${ls.map((x) => x.address).join(", ")}`);
  return l;
}

/** A named server on a chosen port (so a stopped backend can come back on the same address). */
export function namedServerOn(name: string, port: number): { port: number; close(): void } {
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
export function startNamedEcho(name: string): TestServer {
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

/**
 * Registers before/after hooks that start an echo backend behind one sluice listener whose
 * service has the `settings` lines; the returned object holds the port and fixture once started.
 */
export function echoServiceSuite(
  name: string,
  settings: string,
): { port: number; fx: SluiceFixture } {
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
