// The SOCKS5 dialer end to end through real servers from Debian: microsocks (no auth and
// username/password) and dante-server, with bulk data, half-close and the failures they report.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { lookup } from "node:dns/promises";
import { createSocks5Dialer } from "../../src/socks5/dialer.ts";
import { Socks5Error } from "../../src/socks5/errors.ts";
import { SluiceError } from "../../src/errors.ts";
import { parseProxyUrl } from "../../src/routing/proxy_url.ts";
import type { Conn, Runtime } from "../../src/runtime/types.ts";
import {
  bytes,
  readAll,
  runtime,
  startEchoServer,
  startServer,
  type TestServer,
} from "../_support/helpers.ts";
import {
  refusedPort,
  skipUnlessInstalled,
  type SocksServer,
  startDanted,
  startMicrosocks,
} from "../_support/socks_servers.ts";
import { waitFor } from "../_support/wait.ts";

const MiB = 1024 * 1024;
const BULK = 16 * MiB;
const PASSWORD = "micro-Secret-99";

/** Deterministic pseudo-random bytes (xorshift32), in 64 KiB chunks, `total` in all. */
function* pattern(seed: number, total: number): Generator<Uint8Array> {
  let x = seed >>> 0 || 1;
  for (let sent = 0; sent < total;) {
    const n = Math.min(64 * 1024, total - sent);
    const chunk = new Uint8Array(n);
    const words = new Uint32Array(chunk.buffer, 0, n >> 2);
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x >>> 0;
    }
    sent += n;
    yield chunk;
  }
}

function sha256Of(seed: number, total: number): string {
  const h = createHash("sha256");
  for (const c of pattern(seed, total)) h.update(c);
  return h.digest("hex");
}

/** Reads `total` bytes (or to FIN when total is undefined), hashing them. */
async function readHashed(
  c: Conn,
  signal: AbortSignal,
  total?: number,
): Promise<{ sha256: string; n: number }> {
  const h = createHash("sha256");
  let n = 0;
  for (let i = 0; i < 10_000_000 && (total === undefined || n < total); i++) {
    let chunk = await c.read({ signal });
    if (chunk === null) break;
    if (total !== undefined && n + chunk.length > total) {
      // What follows the counted bytes is for the next reader.
      c.unshift(chunk.slice(total - n));
      chunk = chunk.subarray(0, total - n);
    }
    h.update(chunk);
    n += chunk.length;
  }
  return { sha256: h.digest("hex"), n };
}

async function writePattern(c: Conn, seed: number, total: number): Promise<void> {
  for (const chunk of pattern(seed, total)) await c.write(chunk);
}

/**
 * A backend that hashes what it receives while it sends its own 16 MiB: both directions at
 * once. With `halfClose` each direction ends with a FIN; without, it reads exactly 16 MiB
 * (microsocks closes both ways on the first FIN, and relays each direction with blocking
 * writes from one thread, so an echo backend would deadlock it).
 */
function startExchangeServer(
  rt: Runtime,
  o: { halfClose: boolean },
  received: { sha256: string; n: number }[],
): TestServer {
  return startServer(rt, async (c) => {
    const signal = AbortSignal.timeout(90_000);
    const [got] = await Promise.all([
      readHashed(c, signal, o.halfClose ? undefined : BULK),
      writePattern(c, 2, BULK).then(() => o.halfClose ? c.closeWrite() : undefined),
    ]);
    received.push(got);
    if (!o.halfClose) await c.write(bytes("!")); // the client waits for this before closing
    c.close();
  });
}

/** 16 MiB up and 16 MiB down at once through `proxyUrl`; both sha256 compared. */
async function bulkExchange(
  rt: Runtime,
  proxyUrl: string,
  o: { halfClose: boolean },
): Promise<void> {
  const received: { sha256: string; n: number }[] = [];
  const backend = startExchangeServer(rt, o, received);
  try {
    const d = createSocks5Dialer({ rt, proxy: parseProxyUrl(proxyUrl) });
    const c = await d.dial({ host: "127.0.0.1", port: backend.port }, { timeoutMs: 5000 });
    try {
      const signal = AbortSignal.timeout(90_000);
      const [, down] = await Promise.all([
        writePattern(c, 1, BULK).then(() => o.halfClose ? c.closeWrite() : undefined),
        readHashed(c, signal, o.halfClose ? undefined : BULK),
      ]);
      assert.equal(down.n, BULK);
      assert.equal(down.sha256, sha256Of(2, BULK));
      if (!o.halfClose) assert.equal(await readAll(c, { timeoutMs: 30_000 }), "!");
    } finally {
      c.close();
    }
    await waitFor(() => received.length === 1, { timeoutMs: 30_000, what: "backend's hash" });
    assert.deepEqual(received[0], { sha256: sha256Of(1, BULK), n: BULK });
  } finally {
    backend.close();
  }
}

/** Reads the request to FIN, then answers how much it got: needs a working half-close. */
function startHalfCloseServer(rt: Runtime): TestServer {
  return startServer(rt, async (c) => {
    const text = await readAll(c, { timeoutMs: 10_000 });
    await c.write(bytes(`got ${text.length} bytes: ${text}`));
    await c.closeWrite();
    c.close();
  });
}

async function expectError(
  p: Promise<Conn>,
  want: { code: string; kind?: string; reply?: number; message?: RegExp },
): Promise<SluiceError> {
  const err = await p.then((c) => {
    c.close();
    return undefined;
  }, (e: unknown) => e);
  assert.ok(err instanceof SluiceError, `expected a SluiceError, got ${err}`);
  assert.equal(err.code, want.code, err.message);
  if (want.kind) {
    assert.ok(err instanceof Socks5Error);
    assert.equal(err.kind, want.kind, err.message);
    assert.equal(err.reply, want.reply, err.message);
  }
  if (want.message) assert.match(err.message, want.message);
  assert.ok(!err.message.includes(PASSWORD), err.message);
  return err;
}

/** The socks5h name tests need "localhost" to mean 127.0.0.1 to the proxy as well. */
function localhostIsLoopbackV4(): Promise<boolean> {
  return lookup("localhost", { all: true }).then(
    (a) => a[0]?.address === "127.0.0.1",
    () => false,
  );
}

const microsocksSkip = skipUnlessInstalled("microsocks");
const dantedSkip = skipUnlessInstalled("danted");

describe("through microsocks without authentication", { skip: microsocksSkip }, () => {
  let rt: Runtime;
  let ms: SocksServer;
  let echo: TestServer;
  before(async () => {
    rt = await runtime();
    ms = await startMicrosocks(rt);
    echo = startEchoServer(rt);
  });
  after(async () => {
    echo?.close();
    await ms?.stop();
  });

  it("carries 16 MiB each way at once with equal sha256", { timeout: 120_000 }, async () => {
    await bulkExchange(rt, `socks5://127.0.0.1:${ms.port}`, { halfClose: false });
  });

  it("delivers bytes written right after dial and the backend's banner", async () => {
    const banner = startServer(rt, async (c) => {
      await c.write(bytes("220 ready\r\n"));
      const line = await c.read({ signal: AbortSignal.timeout(5000) });
      await c.write(line ?? bytes("none"));
      c.close();
    });
    try {
      const d = createSocks5Dialer({ rt, proxy: parseProxyUrl(`socks5://127.0.0.1:${ms.port}`) });
      const c = await d.dial({ host: "127.0.0.1", port: banner.port }, { timeoutMs: 5000 });
      await c.write(bytes("HELO\r\n"));
      assert.equal(await readAll(c, { timeoutMs: 5000 }), "220 ready\r\nHELO\r\n");
      c.close();
    } finally {
      banner.close();
    }
  });

  it("socks5h:// lets microsocks resolve the backend name", async (t) => {
    if (!(await localhostIsLoopbackV4())) {
      t.skip("localhost does not resolve to 127.0.0.1 first here");
      return;
    }
    const d = createSocks5Dialer({ rt, proxy: parseProxyUrl(`socks5h://127.0.0.1:${ms.port}`) });
    const c = await d.dial({ host: "localhost", port: echo.port }, { timeoutMs: 5000 });
    await c.write(bytes("by name"));
    assert.equal(await readAll(c, { timeoutMs: 5000, maxBytes: 7 }), "by name");
    c.close();
  });

  it("a refused backend behind the proxy is reply 0x05, not a proxy failure", async () => {
    const closed = await refusedPort(rt);
    const d = createSocks5Dialer({ rt, proxy: parseProxyUrl(`socks5://127.0.0.1:${ms.port}`) });
    await expectError(d.dial({ host: "127.0.0.1", port: closed }, { timeoutMs: 5000 }), {
      code: "SOCKS5",
      kind: "reply",
      reply: 5,
      message: new RegExp(
        `backend 127\\.0\\.0\\.1:${closed} .*connection refused \\(reply 0x05\\)`,
      ),
    });
  });

  it("credentials offered to a no-auth microsocks: its choice of no-auth is honoured", async () => {
    // With credentials we offer both methods; the proxy picks.
    const d = createSocks5Dialer({
      rt,
      proxy: parseProxyUrl(`socks5://someone:${PASSWORD}@127.0.0.1:${ms.port}`),
    });
    const c = await d.dial({ host: "127.0.0.1", port: echo.port }, { timeoutMs: 5000 });
    await c.write(bytes("x"));
    assert.equal(await readAll(c, { timeoutMs: 5000, maxBytes: 1 }), "x");
    c.close();
  });
});

describe("through microsocks with -u/-P", { skip: microsocksSkip }, () => {
  let rt: Runtime;
  let ms: SocksServer;
  let echo: TestServer;
  before(async () => {
    rt = await runtime();
    ms = await startMicrosocks(rt, { username: "alice", password: PASSWORD });
    echo = startEchoServer(rt);
  });
  after(async () => {
    echo?.close();
    await ms?.stop();
  });

  it(
    "authenticates and carries 16 MiB each way at once with equal sha256",
    { timeout: 120_000 },
    async () => {
      await bulkExchange(rt, `socks5://alice:${PASSWORD}@127.0.0.1:${ms.port}`, {
        halfClose: false,
      });
    },
  );

  it("a wrong password is auth_rejected, names the proxy redacted, reaches no backend", async () => {
    const d = createSocks5Dialer({
      rt,
      proxy: parseProxyUrl(`socks5://alice:wrong-${PASSWORD}@127.0.0.1:${ms.port}`),
    });
    const before = echo.accepted;
    const err = await expectError(
      d.dial({ host: "127.0.0.1", port: echo.port }, { timeoutMs: 5000 }),
      { code: "SOCKS5", kind: "auth_rejected", message: /rejected the username\/password/ },
    );
    assert.ok(err.message.includes(`socks5://alice:***@127.0.0.1:${ms.port}`), err.message);
    assert.equal(echo.accepted, before);
  });

  it("no credentials in the URL is no_acceptable_method", async () => {
    const d = createSocks5Dialer({ rt, proxy: parseProxyUrl(`socks5://127.0.0.1:${ms.port}`) });
    await expectError(d.dial({ host: "127.0.0.1", port: echo.port }, { timeoutMs: 5000 }), {
      code: "SOCKS5",
      kind: "no_acceptable_method",
    });
  });
});

describe("through dante-server (danted as an unprivileged process)", { skip: dantedSkip }, () => {
  let rt: Runtime;
  let dante: SocksServer;
  let blocked: TestServer;
  before(async () => {
    rt = await runtime();
    blocked = startEchoServer(rt);
    dante = await startDanted(rt, { blockPorts: [blocked.port] });
  });
  after(async () => {
    blocked?.close();
    await dante?.stop();
  });

  it("carries 16 MiB each way at once, each direction ended by a half-close", {
    timeout: 120_000,
  }, async () => {
    await bulkExchange(rt, `socks5://127.0.0.1:${dante.port}`, { halfClose: true });
  });

  it("passes the client's FIN to the backend, which answers after it", async () => {
    const backend = startHalfCloseServer(rt);
    try {
      const d = createSocks5Dialer({
        rt,
        proxy: parseProxyUrl(`socks5://127.0.0.1:${dante.port}`),
      });
      const c = await d.dial({ host: "127.0.0.1", port: backend.port }, { timeoutMs: 5000 });
      await c.write(bytes("question"));
      await c.closeWrite();
      assert.equal(await readAll(c, { timeoutMs: 10_000 }), "got 8 bytes: question");
      c.close();
    } finally {
      backend.close();
    }
  });

  it("a CONNECT its ruleset blocks is reply 0x02 (not allowed by ruleset)", async () => {
    const d = createSocks5Dialer({ rt, proxy: parseProxyUrl(`socks5://127.0.0.1:${dante.port}`) });
    await expectError(d.dial({ host: "127.0.0.1", port: blocked.port }, { timeoutMs: 5000 }), {
      code: "SOCKS5",
      kind: "reply",
      reply: 2,
      message: /connection not allowed by ruleset \(reply 0x02\)/,
    });
    assert.equal(blocked.accepted, 0);
  });

  it("a refused backend behind the proxy is reply 0x05", async () => {
    const closed = await refusedPort(rt);
    const d = createSocks5Dialer({ rt, proxy: parseProxyUrl(`socks5://127.0.0.1:${dante.port}`) });
    await expectError(d.dial({ host: "127.0.0.1", port: closed }, { timeoutMs: 5000 }), {
      code: "SOCKS5",
      kind: "reply",
      reply: 5,
      message: /connection refused \(reply 0x05\)/,
    });
  });

  it("socks5h:// lets danted resolve the backend name", async (t) => {
    if (!(await localhostIsLoopbackV4())) {
      t.skip("localhost does not resolve to 127.0.0.1 first here");
      return;
    }
    const backend = startHalfCloseServer(rt);
    try {
      const d = createSocks5Dialer({
        rt,
        proxy: parseProxyUrl(`socks5h://127.0.0.1:${dante.port}`),
      });
      const c = await d.dial({ host: "localhost", port: backend.port }, { timeoutMs: 5000 });
      await c.write(bytes("named"));
      await c.closeWrite();
      assert.equal(await readAll(c, { timeoutMs: 10_000 }), "got 5 bytes: named");
      c.close();
    } finally {
      backend.close();
    }
  });
});
