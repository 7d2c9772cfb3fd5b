// The SOCKS5 dialer against well-behaved fake proxies on loopback: what it sends for each
// URL form and auth method, and no lost tunnel bytes.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeReply } from "../../src/socks5/codec.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import { bytes, readAll, runtime, startEchoServer, type TestServer } from "../_support/helpers.ts";
import { dialer, honestProxy, PASSWORD, replyingProxy } from "./_fake_proxies.ts";

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
