// The SOCKS5 dialer against fake proxies on loopback: what it sends, every failure it must
// report distinctly, timeouts, no leaked sockets, and no lost tunnel bytes.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  encodeMethodSelection,
  encodeReply,
  encodeUserPassReply,
  parseGreeting,
  parseRequest,
  type ParseResult,
  parseUserPass,
  type Socks5Request,
} from "../../src/socks5/codec.ts";
import { createSocks5Dialer, type Socks5DialerOptions } from "../../src/socks5/dialer.ts";
import { Socks5Error } from "../../src/socks5/errors.ts";
import { SluiceError } from "../../src/errors.ts";
import { parseProxyUrl } from "../../src/routing/proxy_url.ts";
import type { Conn, Runtime } from "../../src/runtime/types.ts";
import {
  bytes,
  concat,
  openFds,
  readAll,
  runtime,
  startEchoServer,
  startServer,
  type TestServer,
} from "../_support/helpers.ts";
import { refusedPort } from "../_support/socks_servers.ts";
import { delay, waitFor, within } from "../_support/wait.ts";

const PASSWORD = "Pa55-w0rd-never-shown";

/** Reads from a fake proxy's accepted conn until `parse` has a whole frame. */
async function readFrame<T>(
  c: Conn,
  state: { buf: Uint8Array },
  parse: (b: Uint8Array) => ParseResult<T>,
): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const r = parse(state.buf);
    if (r.status === "ok") {
      state.buf = state.buf.subarray(r.consumed);
      return r;
    }
    const chunk = await c.read({ signal: AbortSignal.timeout(5000) });
    if (chunk === null) throw new Error("client closed");
    state.buf = concat([state.buf, chunk]);
  }
  throw new Error("frame never completed");
}

/** Waits for the client's FIN or close on a fake proxy conn (bounded). */
async function clientGone(c: Conn, ms = 5000): Promise<boolean> {
  const signal = AbortSignal.timeout(ms);
  try {
    for (let i = 0; i < 1000; i++) if ((await c.read({ signal })) === null) return true;
  } catch (err) {
    return (err as SluiceError).code !== "ETIMEDOUT" && (err as SluiceError).code !== "ABORTED";
  }
  return false;
}

interface Seen {
  methods?: number[];
  user?: { username: string; password: string };
  request?: Socks5Request;
  /** Whether the dialer closed the proxy conn after the scripted answer */
  closedByClient?: boolean;
}

/**
 * A scripted SOCKS5 proxy: `script` answers over the raw conn after the parsed greeting.
 * Everything seen is recorded in `seen` (one entry per connection).
 */
function fakeProxy(
  rt: Runtime,
  script: (c: Conn, s: { buf: Uint8Array }, seen: Seen) => Promise<void>,
): TestServer & { seen: Seen[] } {
  const seen: Seen[] = [];
  const server = startServer(rt, async (c) => {
    const entry: Seen = {};
    seen.push(entry);
    const state = { buf: new Uint8Array(0) };
    try {
      await script(c, state, entry);
    } finally {
      c.close();
    }
  });
  return Object.assign(server, { seen });
}

/** A well-behaved proxy that tunnels to a real backend over `rt.connect` (no auth or user/pass). */
function honestProxy(
  rt: Runtime,
  o: { auth?: { username: string; password: string }; extraInReply?: Uint8Array } = {},
) {
  return fakeProxy(rt, async (c, s, seen) => {
    const g = await readFrame(c, s, parseGreeting);
    seen.methods = g.methods;
    if (o.auth) {
      await c.write(encodeMethodSelection(2));
      const u = await readFrame(c, s, parseUserPass);
      seen.user = { username: u.username, password: u.password };
      const ok = u.username === o.auth.username && u.password === o.auth.password;
      await c.write(encodeUserPassReply(ok ? 0 : 1));
      if (!ok) return;
    } else {
      await c.write(encodeMethodSelection(0));
    }
    const { request } = await readFrame(c, s, parseRequest);
    seen.request = request;
    let upstream: Conn;
    try {
      upstream = await rt.connect({ host: request.host, port: request.port, timeoutMs: 2000 });
    } catch {
      await c.write(encodeReply({ reply: 5, host: "0.0.0.0", port: 0 }));
      return;
    }
    // The reply and the backend's first bytes leave in one write: one TCP segment.
    const reply = encodeReply({ reply: 0, host: "127.0.0.1", port: 4242 });
    await c.write(o.extraInReply ? concat([reply, o.extraInReply]) : reply);
    if (s.buf.length) await upstream.write(s.buf.slice());
    await rt.splice(c, upstream);
  });
}

/** Answers the greeting with "no auth" and the CONNECT with `answer` (then maybe hangs up). */
function replyingProxy(rt: Runtime, answer: Uint8Array, o: { thenHang?: boolean } = {}) {
  return fakeProxy(rt, async (c, s, seen) => {
    seen.methods = (await readFrame(c, s, parseGreeting)).methods;
    await c.write(encodeMethodSelection(0));
    seen.request = (await readFrame(c, s, parseRequest)).request;
    await c.write(answer);
    if (o.thenHang) seen.closedByClient = await clientGone(c);
  });
}

function dialer(rt: Runtime, url: string, extra: Partial<Socks5DialerOptions> = {}) {
  return createSocks5Dialer({ rt, proxy: parseProxyUrl(url), ...extra });
}

/** Asserts a rejection, its class, code and kind; returns the error for further checks. */
async function rejects(
  p: Promise<unknown>,
  want: { code: string; kind?: string; reply?: number; message?: RegExp },
): Promise<SluiceError> {
  let caught: unknown;
  try {
    const c = await within(p as Promise<Conn>, 10_000, "dial to settle");
    c.close();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SluiceError, `expected a SluiceError, got ${caught}`);
  assert.equal(caught.code, want.code, caught.message);
  if (want.kind !== undefined) {
    assert.ok(caught instanceof Socks5Error, `expected a Socks5Error, got ${caught.name}`);
    assert.equal(caught.kind, want.kind, caught.message);
    assert.equal(caught.reply, want.reply);
  }
  if (want.message) assert.match(caught.message, want.message);
  assert.ok(!caught.message.includes(PASSWORD), `password leaked: ${caught.message}`);
  return caught;
}

describe("createSocks5Dialer() with well-behaved proxies", () => {
  let rt: Runtime;
  let echo: TestServer;
  before(async () => {
    rt = await runtime();
    echo = startEchoServer(rt);
  });
  after(() => echo.close());

  it("tunnels to an IPv4 backend offering only no-auth when the URL has no credentials", async () => {
    const proxy = honestProxy(rt);
    try {
      const d = dialer(rt, `socks5://127.0.0.1:${proxy.port}`);
      assert.equal(d.via, `socks5://127.0.0.1:${proxy.port}`);
      const c = await d.dial({ host: "127.0.0.1", port: echo.port }, { timeoutMs: 3000 });
      // Written right after dial resolves: must reach the backend and come back intact.
      await c.write(bytes("hello through the tunnel"));
      await c.closeWrite();
      assert.equal(await readAll(c), "hello through the tunnel");
      c.close();
      assert.deepEqual(proxy.seen[0]?.methods, [0]);
      assert.deepEqual(proxy.seen[0]?.request, {
        command: 1,
        atyp: 1,
        host: "127.0.0.1",
        port: echo.port,
      });
    } finally {
      proxy.close();
    }
  });

  it("keeps backend bytes that arrive in the same segment as the reply", async () => {
    const proxy = honestProxy(rt, { extraInReply: bytes("BANNER:") });
    try {
      const d = dialer(rt, `socks5://127.0.0.1:${proxy.port}`);
      const c = await d.dial({ host: "127.0.0.1", port: echo.port }, { timeoutMs: 3000 });
      await c.write(bytes("echoed"));
      await c.closeWrite();
      assert.equal(await readAll(c), "BANNER:echoed");
      c.close();
    } finally {
      proxy.close();
    }
  });

  it("authenticates with percent-decoded username and password when the proxy asks", async () => {
    const auth = { username: "us@er", password: `${PASSWORD}:/@` };
    const proxy = honestProxy(rt, { auth });
    try {
      const url = `socks5://us%40er:${encodeURIComponent(auth.password)}@127.0.0.1:${proxy.port}`;
      const d = dialer(rt, url);
      assert.equal(d.via, `socks5://us%40er:***@127.0.0.1:${proxy.port}`);
      assert.ok(!d.via?.includes(PASSWORD));
      const c = await d.dial({ host: "127.0.0.1", port: echo.port }, { timeoutMs: 3000 });
      await c.write(bytes("authed"));
      await c.closeWrite();
      assert.equal(await readAll(c), "authed");
      c.close();
      assert.deepEqual(proxy.seen[0]?.methods, [0, 2]);
      assert.deepEqual(proxy.seen[0]?.user, auth);
    } finally {
      proxy.close();
    }
  });

  it("socks5h:// sends the backend name to the proxy (ATYP 3) and resolves nothing", async () => {
    const proxy = replyingProxy(rt, encodeReply({ reply: 0, host: "0.0.0.0", port: 0 }));
    try {
      let resolved = 0;
      const d = dialer(rt, `socks5h://127.0.0.1:${proxy.port}`, {
        resolve: () => {
          resolved++;
          return Promise.resolve(["127.0.0.1"]);
        },
      });
      const c = await d.dial({ host: "db.internal", port: 5432 }, { timeoutMs: 3000 });
      c.close();
      assert.equal(resolved, 0);
      assert.deepEqual(proxy.seen[0]?.request, {
        command: 1,
        atyp: 3,
        host: "db.internal",
        port: 5432,
      });
    } finally {
      proxy.close();
    }
  });

  it("socks5:// resolves the backend name itself and sends the first address", async () => {
    const proxy = replyingProxy(rt, encodeReply({ reply: 0, host: "0.0.0.0", port: 0 }));
    try {
      const asked: string[] = [];
      const d = dialer(rt, `socks5://127.0.0.1:${proxy.port}`, {
        resolve: (h) => {
          asked.push(h);
          return Promise.resolve(["10.9.8.7", "10.9.8.6"]);
        },
      });
      const c = await d.dial({ host: "db.internal", port: 5432 }, { timeoutMs: 3000 });
      c.close();
      assert.deepEqual(asked, ["db.internal"]);
      assert.deepEqual(proxy.seen[0]?.request, {
        command: 1,
        atyp: 1,
        host: "10.9.8.7",
        port: 5432,
      });
    } finally {
      proxy.close();
    }
  });

  it("socks5:// sends IPv6 literals as ATYP 4 without resolving", async () => {
    const proxy = replyingProxy(rt, encodeReply({ reply: 0, host: "::", port: 0 }));
    try {
      const d = dialer(rt, `socks5://127.0.0.1:${proxy.port}`, {
        resolve: () => Promise.reject(new Error("must not resolve a literal")),
      });
      const c = await d.dial({ host: "2001:db8::7", port: 443 }, { timeoutMs: 3000 });
      c.close();
      assert.deepEqual(proxy.seen[0]?.request, {
        command: 1,
        atyp: 4,
        host: "2001:db8::7",
        port: 443,
      });
    } finally {
      proxy.close();
    }
  });

  it("socks5:// resolves with node:dns by default (localhost)", async () => {
    const proxy = replyingProxy(rt, encodeReply({ reply: 0, host: "0.0.0.0", port: 0 }));
    try {
      const c = await dialer(rt, `socks5://127.0.0.1:${proxy.port}`).dial(
        { host: "localhost", port: 80 },
        { timeoutMs: 3000 },
      );
      c.close();
      const r = proxy.seen[0]?.request;
      assert.ok(r && (r.host === "127.0.0.1" || r.host === "::1"), `got ${r?.host}`);
      assert.notEqual(r?.atyp, 3);
    } finally {
      proxy.close();
    }
  });
});

describe("createSocks5Dialer() failures", () => {
  let rt: Runtime;
  before(async () => {
    rt = await runtime();
  });

  const codes: [number, RegExp][] = [
    [1, /general SOCKS server failure \(reply 0x01\)/],
    [2, /connection not allowed by ruleset \(reply 0x02\)/],
    [3, /network unreachable \(reply 0x03\)/],
    [4, /host unreachable \(reply 0x04\)/],
    [5, /connection refused \(reply 0x05\)/],
    [6, /TTL expired \(reply 0x06\)/],
    [7, /command not supported \(reply 0x07\)/],
    [8, /address type not supported \(reply 0x08\)/],
  ];
  for (const [code, text] of codes) {
    it(`reply 0x0${code} rejects with its meaning, the proxy and the backend, and closes`, async () => {
      const proxy = replyingProxy(rt, encodeReply({ reply: code, host: "0.0.0.0", port: 0 }), {
        thenHang: true,
      });
      try {
        const d = dialer(rt, `socks5://u:${PASSWORD}@127.0.0.1:${proxy.port}`, {
          resolve: () => Promise.resolve([]),
        });
        // The proxy offers no-auth although credentials exist: fine, it chose.
        const err = await rejects(d.dial({ host: "10.0.0.9", port: 8080 }, { timeoutMs: 3000 }), {
          code: "SOCKS5",
          kind: "reply",
          reply: code,
          message: text,
        });
        assert.match(err.message, /backend 10\.0\.0\.9:8080/);
        assert.ok(err.message.includes(`socks5://u:***@127.0.0.1:${proxy.port}`), err.message);
        await waitFor(() => proxy.seen[0]?.closedByClient !== undefined, { what: "proxy side" });
        assert.equal(proxy.seen[0]?.closedByClient, true);
      } finally {
        proxy.close();
      }
    });
  }

  it("a rejected password is an auth_rejected error and the socket is closed", async () => {
    const proxy = fakeProxy(rt, async (c, s, seen) => {
      await readFrame(c, s, parseGreeting);
      await c.write(encodeMethodSelection(2));
      seen.user = await readFrame(c, s, parseUserPass);
      await c.write(encodeUserPassReply(1));
      seen.closedByClient = await clientGone(c);
    });
    try {
      const d = dialer(rt, `socks5://alice:${PASSWORD}@127.0.0.1:${proxy.port}`);
      await rejects(d.dial({ host: "10.0.0.9", port: 80 }, { timeoutMs: 3000 }), {
        code: "SOCKS5",
        kind: "auth_rejected",
        message: /rejected the username\/password for user "alice" \(status 0x01\)/,
      });
      await waitFor(() => proxy.seen[0]?.closedByClient !== undefined, { what: "proxy side" });
      assert.equal(proxy.seen[0]?.closedByClient, true);
    } finally {
      proxy.close();
    }
  });

  it("0xFF (no acceptable method) is its own error and hints at missing credentials", async () => {
    const proxy = fakeProxy(rt, async (c, s) => {
      await readFrame(c, s, parseGreeting);
      await c.write(encodeMethodSelection(0xff));
      await clientGone(c);
    });
    try {
      await rejects(
        dialer(rt, `socks5://127.0.0.1:${proxy.port}`).dial({ host: "10.0.0.9", port: 80 }, {
          timeoutMs: 3000,
        }),
        {
          code: "SOCKS5",
          kind: "no_acceptable_method",
          message: /accepts none of the offered authentication methods.*username and password/,
        },
      );
    } finally {
      proxy.close();
    }
  });

  it("a method that was not offered is garbage", async () => {
    const proxy = fakeProxy(rt, async (c, s) => {
      await readFrame(c, s, parseGreeting);
      await c.write(encodeMethodSelection(2)); // user/pass, but the URL has none
      await clientGone(c);
    });
    try {
      await rejects(
        dialer(rt, `socks5://127.0.0.1:${proxy.port}`).dial({ host: "10.0.0.9", port: 80 }, {
          timeoutMs: 3000,
        }),
        { code: "SOCKS5", kind: "garbage", message: /method 0x02, which was not offered/ },
      );
    } finally {
      proxy.close();
    }
  });

  it("an HTTP server answering the greeting is garbage, not a hang", async () => {
    const proxy = fakeProxy(rt, async (c, s) => {
      await readFrame(c, s, parseGreeting);
      await c.write(bytes("HTTP/1.1 400 Bad Request\r\n\r\n"));
      await clientGone(c);
    });
    try {
      await rejects(
        dialer(rt, `socks5://127.0.0.1:${proxy.port}`).dial({ host: "10.0.0.9", port: 80 }, {
          timeoutMs: 3000,
        }),
        {
          code: "SOCKS5",
          kind: "garbage",
          message: /answer to the greeting is not SOCKS5 \(method selection version 0x48/,
        },
      );
    } finally {
      proxy.close();
    }
  });

  it("a reply with a bad reserved byte or address type is garbage", async () => {
    for (
      const [frame, re] of [
        [Uint8Array.from([5, 0, 7, 1, 0, 0, 0, 0, 0, 0]), /reserved byte 0x07/],
        [Uint8Array.from([5, 0, 0, 9, 0, 0, 0, 0, 0, 0]), /address type 0x09/],
      ] as const
    ) {
      const proxy = replyingProxy(rt, frame, { thenHang: true });
      try {
        await rejects(
          dialer(rt, `socks5://127.0.0.1:${proxy.port}`).dial({ host: "10.0.0.9", port: 80 }, {
            timeoutMs: 3000,
          }),
          { code: "SOCKS5", kind: "garbage", message: re },
        );
      } finally {
        proxy.close();
      }
    }
  });

  it("a proxy that closes right after accepting is closed_early (greeting)", async () => {
    const proxy = fakeProxy(rt, async () => {});
    try {
      await rejects(
        dialer(rt, `socks5://127.0.0.1:${proxy.port}`).dial({ host: "10.0.0.9", port: 80 }, {
          timeoutMs: 3000,
        }),
        {
          code: "SOCKS5",
          kind: "closed_early",
          message: /closed the connection during the greeting|failed during the greeting/,
        },
      );
    } finally {
      proxy.close();
    }
  });

  it("a proxy that closes in the middle of its reply is closed_early (connect request)", async () => {
    const proxy = replyingProxy(rt, Uint8Array.from([5, 0, 0, 1, 127]));
    try {
      await rejects(
        dialer(rt, `socks5://127.0.0.1:${proxy.port}`).dial({ host: "10.0.0.9", port: 80 }, {
          timeoutMs: 3000,
        }),
        {
          code: "SOCKS5",
          kind: "closed_early",
          message: /during the connect request after 5 byte\(s\) of its answer/,
        },
      );
    } finally {
      proxy.close();
    }
  });

  it("a proxy that sends only VER and a failure code before closing still reports the code", async () => {
    const proxy = replyingProxy(rt, Uint8Array.from([5, 4]));
    try {
      await rejects(
        dialer(rt, `socks5://127.0.0.1:${proxy.port}`).dial({ host: "10.0.0.9", port: 80 }, {
          timeoutMs: 3000,
        }),
        { code: "SOCKS5", kind: "reply", reply: 4, message: /host unreachable/ },
      );
    } finally {
      proxy.close();
    }
  });

  it("a proxy that never answers times out within bounds and leaves no socket behind", {
    timeout: 20_000,
  }, async () => {
    const proxy = fakeProxy(rt, async (c, _s, seen) => {
      seen.closedByClient = await clientGone(c, 8000);
    });
    try {
      // Warm up both sides so lazily opened runtime fds do not count as leaks.
      await rejects(
        dialer(rt, `socks5://127.0.0.1:${proxy.port}`, { handshakeTimeoutMs: 50 }).dial(
          { host: "10.0.0.9", port: 80 },
          { timeoutMs: 3000 },
        ),
        { code: "SOCKS5", kind: "handshake_timeout" },
      );
      await waitFor(() => proxy.open.size === 0, { what: "warm-up conn closed" });
      const baseline = openFds();
      for (let i = 0; i < 5; i++) {
        const t0 = Date.now();
        await rejects(
          dialer(rt, `socks5://u:${PASSWORD}@127.0.0.1:${proxy.port}`, { handshakeTimeoutMs: 300 })
            .dial({ host: "10.0.0.9", port: 80 }, { timeoutMs: 5000 }),
          {
            code: "SOCKS5",
            kind: "handshake_timeout",
            message: /no answer to the greeting within 300 ms/,
          },
        );
        const took = Date.now() - t0;
        assert.ok(took >= 250 && took < 3000, `took ${took} ms`);
      }
      await waitFor(() => proxy.seen.length === 6 && proxy.open.size === 0, {
        what: "fake proxy to see every conn closed",
      });
      assert.ok(proxy.seen.every((s) => s.closedByClient === true));
      await waitFor(() => openFds() <= baseline, {
        what: `open fds back to ${baseline} (now ${openFds()})`,
      });
    } finally {
      proxy.close();
    }
  });

  it("without handshakeTimeoutMs the handshake gets what is left of the connect timeout", {
    timeout: 20_000,
  }, async () => {
    const proxy = fakeProxy(rt, async (c) => {
      await clientGone(c, 8000);
    });
    try {
      const t0 = Date.now();
      await rejects(
        dialer(rt, `socks5://127.0.0.1:${proxy.port}`).dial({ host: "10.0.0.9", port: 80 }, {
          timeoutMs: 400,
        }),
        { code: "SOCKS5", kind: "handshake_timeout", message: /within \d+ ms/ },
      );
      const took = Date.now() - t0;
      assert.ok(took >= 300 && took < 3000, `took ${took} ms`);
    } finally {
      proxy.close();
    }
  });

  it("aborting the dial's signal mid-handshake rejects ABORTED and closes the proxy conn", async () => {
    const proxy = fakeProxy(rt, async (c, _s, seen) => {
      seen.closedByClient = await clientGone(c, 8000);
    });
    try {
      const ac = new AbortController();
      const p = dialer(rt, `socks5://127.0.0.1:${proxy.port}`).dial(
        { host: "10.0.0.9", port: 80 },
        {
          timeoutMs: 5000,
          signal: ac.signal,
        },
      );
      await waitFor(() => proxy.seen.length === 1, { what: "proxy accepted" });
      ac.abort();
      await rejects(p, { code: "ABORTED", message: /aborted/ });
      await waitFor(() => proxy.seen[0]?.closedByClient !== undefined, { what: "proxy side" });
      assert.equal(proxy.seen[0]?.closedByClient, true);
    } finally {
      proxy.close();
    }
  });

  it("a proxy that is down is ECONNREFUSED naming the proxy (redacted) and the backend", async () => {
    const port = await refusedPort(rt);
    const err = await rejects(
      dialer(rt, `socks5://bob:${PASSWORD}@127.0.0.1:${port}`).dial(
        { host: "10.0.0.9", port: 80 },
        { timeoutMs: 3000 },
      ),
      { code: "ECONNREFUSED" },
    );
    assert.ok(
      err.message.startsWith(
        `Cannot reach SOCKS5 proxy socks5://bob:***@127.0.0.1:${port} for backend 10.0.0.9:80`,
      ),
      err.message,
    );
  });

  it("socks5:// with a name that does not resolve fails ENOTFOUND before any connection", async () => {
    const proxy = fakeProxy(rt, async () => {});
    try {
      await rejects(
        dialer(rt, `socks5://127.0.0.1:${proxy.port}`, {
          resolve: () => Promise.reject(new Error("queryA ENOTFOUND nowhere.invalid")),
        }).dial({ host: "nowhere.invalid", port: 80 }, { timeoutMs: 3000 }),
        {
          code: "ENOTFOUND",
          message: /Cannot resolve backend nowhere\.invalid:80 for SOCKS5 proxy.*ENOTFOUND/,
        },
      );
      await delay(50);
      assert.equal(proxy.accepted, 0);
    } finally {
      proxy.close();
    }
  });

  it("socks5h:// with a backend name over 255 bytes fails before any connection", async () => {
    const proxy = fakeProxy(rt, async () => {});
    try {
      await rejects(
        dialer(rt, `socks5h://127.0.0.1:${proxy.port}`).dial({ host: "a".repeat(256), port: 80 }, {
          timeoutMs: 3000,
        }),
        { code: "ROUTING", message: /domain name of 256 bytes/ },
      );
      await delay(50);
      assert.equal(proxy.accepted, 0);
    } finally {
      proxy.close();
    }
  });

  it("the password appears in no error message, cause or via", async () => {
    const url = (port: number) =>
      `socks5h://user:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`;
    const proxies = [
      replyingProxy(rt, encodeReply({ reply: 5, host: "0.0.0.0", port: 0 })),
      fakeProxy(rt, async (c, s) => {
        await readFrame(c, s, parseGreeting);
        await c.write(encodeMethodSelection(2));
        await readFrame(c, s, parseUserPass);
        await c.write(encodeUserPassReply(1));
      }),
      fakeProxy(rt, async (c) => {
        await c.write(bytes("garbage garbage"));
      }),
      fakeProxy(rt, async (c) => {
        await clientGone(c, 5000);
      }),
    ];
    try {
      const errors: unknown[] = [];
      for (const p of proxies) {
        const d = dialer(rt, url(p.port), { handshakeTimeoutMs: 200 });
        assert.ok(d.via && !d.via.includes(PASSWORD) && d.via.includes("user:***@"));
        errors.push(
          await d.dial({ host: "backend.internal", port: 1 }, { timeoutMs: 3000 }).then(
            (c) => c.close(),
            (e) => e,
          ),
        );
      }
      const down = await refusedPort(rt);
      errors.push(
        await dialer(rt, url(down)).dial({ host: "b", port: 1 }, { timeoutMs: 3000 }).catch((e) =>
          e
        ),
      );
      assert.equal(errors.length, 5);
      for (const e of errors) {
        assert.ok(e instanceof SluiceError, `expected an error, got ${e}`);
        let text = "";
        for (let x: unknown = e, i = 0; x instanceof Error && i < 10; x = x.cause, i++) {
          text += `${x.message}\n${x.stack ?? ""}\n`;
        }
        assert.ok(!text.includes(PASSWORD), text);
        assert.ok(!text.includes(encodeURIComponent(PASSWORD)), text);
        assert.match(e.message, /user:\*\*\*@127\.0\.0\.1/);
      }
    } finally {
      for (const p of proxies) p.close();
    }
  });
});
