// The SOCKS5 dialer against misbehaving fake proxies: every failure reply, refused auth and
// garbage is reported distinctly and the proxy conn is closed.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  encodeMethodSelection,
  encodeReply,
  encodeUserPassReply,
  parseGreeting,
  parseUserPass,
} from "../../src/socks5/codec.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import { bytes, runtime } from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";
import {
  clientGone,
  dialer,
  dialRejects,
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
    await dialRejects(rt, proxy, {
      code: "SOCKS5",
      kind: "no_acceptable_method",
      message: /accepts none of the offered authentication methods.*username and password/,
    });
  });

  it("a method that was not offered is garbage", async () => {
    const proxy = fakeProxy(rt, async (c, s) => {
      await readFrame(c, s, parseGreeting);
      await c.write(encodeMethodSelection(2)); // user/pass, but the URL has none
      await clientGone(c);
    });
    await dialRejects(rt, proxy, {
      code: "SOCKS5",
      kind: "garbage",
      message: /method 0x02, which was not offered/,
    });
  });

  it("an HTTP server answering the greeting is garbage, not a hang", async () => {
    const proxy = fakeProxy(rt, async (c, s) => {
      await readFrame(c, s, parseGreeting);
      await c.write(bytes("HTTP/1.1 400 Bad Request\r\n\r\n"));
      await clientGone(c);
    });
    await dialRejects(rt, proxy, {
      code: "SOCKS5",
      kind: "garbage",
      message: /answer to the greeting is not SOCKS5 \(method selection version 0x48/,
    });
  });

  it("a reply with a bad reserved byte or address type is garbage", async () => {
    for (
      const [frame, re] of [
        [Uint8Array.from([5, 0, 7, 1, 0, 0, 0, 0, 0, 0]), /reserved byte 0x07/],
        [Uint8Array.from([5, 0, 0, 9, 0, 0, 0, 0, 0, 0]), /address type 0x09/],
      ] as const
    ) {
      const proxy = replyingProxy(rt, frame, { thenHang: true });
      await dialRejects(rt, proxy, { code: "SOCKS5", kind: "garbage", message: re });
    }
  });

  it("a proxy that closes right after accepting is closed_early (greeting)", async () => {
    const proxy = fakeProxy(rt, async () => {});
    await dialRejects(rt, proxy, {
      code: "SOCKS5",
      kind: "closed_early",
      message: /closed the connection during the greeting|failed during the greeting/,
    });
  });

  it("a proxy that closes in the middle of its reply is closed_early (connect request)", async () => {
    const proxy = replyingProxy(rt, Uint8Array.from([5, 0, 0, 1, 127]));
    await dialRejects(rt, proxy, {
      code: "SOCKS5",
      kind: "closed_early",
      message: /during the connect request after 5 byte\(s\) of its answer/,
    });
  });

  it("a proxy that sends only VER and a failure code before closing still reports the code", async () => {
    const proxy = replyingProxy(rt, Uint8Array.from([5, 4]));
    await dialRejects(rt, proxy, {
      code: "SOCKS5",
      kind: "reply",
      reply: 4,
      message: /host unreachable/,
    });
  });
});
