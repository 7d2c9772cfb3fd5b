// readKeyBytes over real loopback sockets: the slice comes out, and the backend still gets
// every byte (split writes, timeout, EOF).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readKeyBytes } from "../../src/balancer/first_bytes.ts";
import type { Conn, Runtime } from "../../src/runtime/types.ts";
import { bytes, readAll, runtime, startServer, type TestServer } from "../_support/helpers.ts";
import { delay, waitFor, within } from "../_support/wait.ts";

const dec = new TextDecoder();
let rt: Runtime;
const servers: TestServer[] = [];

before(async () => {
  rt = await runtime();
});
after(() => {
  for (const s of servers) s.close();
});

/**
 * A front that runs readKeyBytes on each client and then splices it to a backend that
 * records everything it receives until FIN.
 */
function setup(o: { start: number; end: number; timeoutMs: number }) {
  const received: Promise<string>[] = [];
  const keys: Promise<Uint8Array>[] = [];
  const backend = startServer(rt, (c) => {
    received.push(readAll(c, { timeoutMs: 5000 }).finally(() => c.close()));
  });
  const front = startServer(rt, async (client: Conn) => {
    const key = readKeyBytes(client, o);
    keys.push(key);
    await key.catch(() => {});
    const up = await rt.connect({ host: "127.0.0.1", port: backend.port, timeoutMs: 2000 });
    await rt.splice(client, up, { idleTimeoutMs: 5000 });
  });
  servers.push(backend, front);
  return { front, received, keys };
}

async function client(port: number, parts: (string | number)[]): Promise<void> {
  const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
  for (const p of parts) {
    if (typeof p === "number") await delay(p);
    else await c.write(bytes(p));
  }
  await c.closeWrite();
  await readAll(c, { timeoutMs: 5000 }).catch(() => "");
  c.close();
}

describe("readKeyBytes", () => {
  it("returns [start, end) of bytes split across writes, and the backend gets them all", {
    timeout: 10_000,
  }, async () => {
    const s = setup({ start: 2, end: 8, timeoutMs: 2000 });
    await within(client(s.front.port, ["ab", 30, "cde", 30, "fghij", "KLMNOP"]), 8000, "client");
    await waitFor(() => s.keys.length > 0 && s.received.length > 0, { what: "front and backend" });
    assert.equal(dec.decode(await s.keys[0]!), "cdefgh");
    assert.equal(await s.received[0]!, "abcdefghijKLMNOP");
  });

  it(
    "returns what arrived before the timeout and still replays it",
    { timeout: 10_000 },
    async () => {
      const s = setup({ start: 0, end: 16, timeoutMs: 100 });
      await within(client(s.front.port, ["abc", 400, "def"]), 8000, "client");
      await waitFor(() => s.keys.length > 0 && s.received.length > 0, {
        what: "front and backend",
      });
      assert.equal(dec.decode(await s.keys[0]!), "abc");
      assert.equal(await s.received[0]!, "abcdef");
    },
  );

  it("stops at EOF with a short slice, and the backend gets the bytes and the FIN", {
    timeout: 10_000,
  }, async () => {
    const s = setup({ start: 1, end: 100, timeoutMs: 2000 });
    await within(client(s.front.port, ["hello"]), 8000, "client");
    await waitFor(() => s.keys.length > 0 && s.received.length > 0, { what: "front and backend" });
    assert.equal(dec.decode(await s.keys[0]!), "ello");
    assert.equal(await s.received[0]!, "hello");
  });

  it(
    "returns an empty slice when the client sends nothing in time",
    { timeout: 10_000 },
    async () => {
      const s = setup({ start: 0, end: 4, timeoutMs: 50 });
      await within(client(s.front.port, [200, "late"]), 8000, "client");
      await waitFor(() => s.keys.length > 0 && s.received.length > 0, {
        what: "front and backend",
      });
      assert.equal((await s.keys[0]!).length, 0);
      assert.equal(await s.received[0]!, "late");
    },
  );

  it(
    "returns an empty slice when start lies beyond what was sent",
    { timeout: 10_000 },
    async () => {
      const s = setup({ start: 10, end: 20, timeoutMs: 2000 });
      await within(client(s.front.port, ["short"]), 8000, "client");
      await waitFor(() => s.keys.length > 0 && s.received.length > 0, {
        what: "front and backend",
      });
      assert.equal((await s.keys[0]!).length, 0);
      assert.equal(await s.received[0]!, "short");
    },
  );
});
