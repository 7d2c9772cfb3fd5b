// readClientHello over real loopback sockets through the runtime adapter: the parse result, and
// the backend still receiving every byte unchanged (whole, dribbled, stalled, not TLS, too big).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect, createServer as tlsServer } from "node:tls";
import {
  type ClientHelloReadOutcome,
  readClientHello,
  type ReadClientHelloOptions,
} from "../../../src/proxy/sni/read_client_hello.ts";
import type { Conn, Runtime } from "../../../src/runtime/types.ts";
import { bytes, concat, runtime, startServer, type TestServer } from "../../_support/helpers.ts";
import { makeTestCerts } from "../../_support/test_certs.ts";
import { delay, waitFor, within } from "../../_support/wait.ts";

const DIR = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "fixtures");
const fixture = (name: string) => new Uint8Array(readFileSync(join(DIR, `${name}.bin`)));

let rt: Runtime;
const servers: TestServer[] = [];
before(async () => {
  rt = await runtime();
});
after(() => {
  for (const s of servers) s.close();
});

async function readAllBytes(c: Conn, timeoutMs: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const signal = AbortSignal.timeout(timeoutMs);
  for (;;) {
    const chunk = await c.read({ signal });
    if (chunk === null) break;
    chunks.push(chunk.slice());
  }
  return concat(chunks);
}

/**
 * A front that runs readClientHello on each client and then splices it to a backend that
 * records everything it receives until FIN.
 */
function setup(o: ReadClientHelloOptions) {
  const received: Promise<Uint8Array>[] = [];
  const outcomes: Promise<ClientHelloReadOutcome>[] = [];
  const backend = startServer(rt, (c) => {
    received.push(readAllBytes(c, 10_000).finally(() => c.close()));
  });
  const front = startServer(rt, async (client: Conn) => {
    const out = readClientHello(client, o);
    outcomes.push(out);
    await out.catch(() => {});
    const up = await rt.connect({ host: "127.0.0.1", port: backend.port, timeoutMs: 2000 });
    await rt.splice(client, up, { idleTimeoutMs: 10_000 });
  });
  servers.push(backend, front);
  return { front, received, outcomes };
}

/** Connects, writes each part (a number is a pause in ms), sends FIN, waits for the close. */
async function client(port: number, parts: (Uint8Array | number)[]): Promise<void> {
  const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
  c.setNoDelay(true); // each part its own segment, as far as the kernel allows
  for (const p of parts) {
    if (typeof p === "number") await delay(p);
    else await c.write(p);
  }
  await c.closeWrite();
  await readAllBytes(c, 10_000).catch(() => {});
  c.close();
}

async function run(o: ReadClientHelloOptions, parts: (Uint8Array | number)[]) {
  const s = setup(o);
  await within(client(s.front.port, parts), 20_000, "client");
  await waitFor(() => s.outcomes.length > 0 && s.received.length > 0, {
    timeoutMs: 10_000,
    what: "front and backend",
  });
  return { out: await s.outcomes[0]!, received: await s.received[0]! };
}

const sent = (parts: (Uint8Array | number)[]) =>
  concat(parts.filter((p): p is Uint8Array => typeof p !== "number"));

describe("readClientHello", { timeout: 30_000 }, () => {
  it("reads the name of a whole ClientHello and the backend gets it and what follows", async () => {
    const parts = [fixture("curl_sni"), 20, bytes("after the hello")];
    const { out, received } = await run({ timeoutMs: 5000 }, parts);
    assert.deepEqual(out.result, { kind: "name", name: "curl.example.com" });
    assert.deepEqual(out.bytes, fixture("curl_sni"));
    assert.deepEqual(received, sent(parts));
  });

  it("reads a ClientHello dribbled one byte per 10 ms", async () => {
    const hello = fixture("fragmented");
    const parts = [...hello].flatMap((b) => [new Uint8Array([b]), 10]);
    const { out, received } = await run({ timeoutMs: 15_000 }, parts);
    assert.deepEqual(out.result, { kind: "name", name: "web.apps.example.com" });
    assert.deepEqual(out.bytes, hello);
    assert.deepEqual(received, hello);
  });

  it("reads a large ClientHello sent in packet-sized pieces", async () => {
    const hello = fixture("large");
    const parts = [
      hello.subarray(0, 1400),
      20,
      hello.subarray(1400, 2800),
      20,
      hello.subarray(2800),
    ];
    const { out, received } = await run({ timeoutMs: 5000 }, parts);
    assert.deepEqual(out.result, { kind: "name", name: "web.apps.example.com" });
    assert.deepEqual(received, hello);
  });

  it("ends with timeout after 3 bytes and a stall, and still replays the 3 bytes", async () => {
    const three = fixture("openssl_tls13_sni").subarray(0, 3);
    const { out, received } = await run({ timeoutMs: 300 }, [three, 1500]);
    assert.deepEqual(out.result, { kind: "timeout" });
    assert.deepEqual(out.bytes, three);
    assert.deepEqual(received, three);
  });

  it("ends with not_tls for a plain-TCP client and replays its bytes", async () => {
    const parts = [bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n")];
    const { out, received } = await run({ timeoutMs: 5000 }, parts);
    assert.deepEqual(out.result, { kind: "not_tls" });
    assert.deepEqual(out.bytes, sent(parts));
    assert.deepEqual(received, sent(parts));
  });

  it("ends with no_sni for a ClientHello without server_name", async () => {
    const { out } = await run({ timeoutMs: 5000 }, [fixture("openssl_tls12_nosni")]);
    assert.deepEqual(out.result, { kind: "no_sni" });
  });

  it("ends with eof when the client sends FIN mid-hello", async () => {
    const half = fixture("openssl_tls12_sni").subarray(0, 100);
    const { out, received } = await run({ timeoutMs: 5000 }, [half]);
    assert.deepEqual(out.result, { kind: "eof" });
    assert.deepEqual(received, half);
  });

  it("ends with too_large as soon as the hello is known to exceed maxBytes", async () => {
    const hello = fixture("large");
    // The first record header already says 3000+ bytes: no need to wait for them.
    const parts = [hello.subarray(0, 200), 1500, hello.subarray(200)];
    const { out, received } = await run({ timeoutMs: 5000, maxBytes: 1024 }, parts);
    assert.deepEqual(out.result, { kind: "too_large" });
    assert.deepEqual(out.bytes, hello.subarray(0, 200));
    assert.deepEqual(received, hello);
  });

  it("ends with aborted when the caller's signal fires", async () => {
    const ac = new AbortController();
    const s = setup({ timeoutMs: 10_000, signal: ac.signal });
    const c = await rt.connect({ host: "127.0.0.1", port: s.front.port, timeoutMs: 2000 });
    await c.write(new Uint8Array([0x16, 3]));
    await waitFor(() => s.outcomes.length > 0, { timeoutMs: 5000, what: "the front" });
    await delay(50);
    ac.abort();
    const out = await within(s.outcomes[0]!, 5000, "readClientHello after abort");
    assert.deepEqual(out.result, { kind: "aborted" });
    c.close();
  });

  it("a real TLS client's handshake passes through unchanged and its name is read", async () => {
    // The runtime's own TLS client (rustls under Deno, BoringSSL under Bun) against a node:tls
    // server: the handshake only completes if the replayed bytes are exactly the client's.
    const certs = makeTestCerts();
    const server = tlsServer({ cert: certs.serverCert, key: certs.serverKey }, (sock) => {
      sock.on("error", () => {});
      sock.end("hello over tls");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const tlsPort = (server.address() as AddressInfo).port;
    const outcomes: Promise<ClientHelloReadOutcome>[] = [];
    const front = startServer(rt, async (client: Conn) => {
      const out = readClientHello(client, { timeoutMs: 5000 });
      outcomes.push(out);
      await out.catch(() => {});
      const up = await rt.connect({ host: "127.0.0.1", port: tlsPort, timeoutMs: 2000 });
      await rt.splice(client, up, { idleTimeoutMs: 10_000 });
    });
    servers.push(front);
    try {
      const text = await within(
        new Promise<string>((resolve, reject) => {
          let got = "";
          const c = tlsConnect({
            host: "127.0.0.1",
            port: front.port,
            servername: "App.Example.test",
            ca: certs.ca,
            rejectUnauthorized: false,
          });
          c.setEncoding("utf8");
          c.on("data", (d: string) => got += d);
          c.on("end", () => {
            c.destroy();
            resolve(got);
          });
          c.on("error", reject);
        }),
        10_000,
        "TLS client through the front",
      );
      assert.equal(text, "hello over tls");
      const out = await within(outcomes[0]!, 5000, "readClientHello");
      assert.deepEqual(out.result, { kind: "name", name: "app.example.test" });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
