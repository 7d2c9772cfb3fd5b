// The SOCKS5 dialer's bounds: handshake timeouts, aborts, unreachable proxies and names, and
// the password never shown in an error.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  encodeMethodSelection,
  encodeReply,
  encodeUserPassReply,
  parseGreeting,
  parseUserPass,
} from "../../src/socks5/codec.ts";
import { SluiceError } from "../../src/errors.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import { bytes, openFds, runtime } from "../_support/helpers.ts";
import { refusedPort } from "../_support/socks_servers.ts";
import { delay, waitFor } from "../_support/wait.ts";
import {
  clientGone,
  dialer,
  fakeProxy,
  PASSWORD,
  readFrame,
  rejects,
  replyingProxy,
} from "./_fake_proxies.ts";

describe("createSocks5Dialer() failures", () => {
  let rt: Runtime;
  before(async () => {
    rt = await runtime();
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
