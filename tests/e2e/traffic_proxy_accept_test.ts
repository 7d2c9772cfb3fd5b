// Traffic control end to end: sluice behind HAProxy `send-proxy`/`send-proxy-v2`, with
// accept_proxy_protocol and trusted_proxies; bad or missing headers are closed and logged.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeProxyV1 } from "../../src/proxy/proxy_protocol.ts";
import { bytes, freePort, tempDir } from "../_support/helpers.ts";
import { HAPROXY, type PeerDaemon, startHaproxy } from "../_support/peer_daemon.ts";
import { type SluiceFixture, startSluiceFixture } from "./_sluice_fixture.ts";
import { delay, waitFor } from "../_support/wait.ts";
import {
  decodedThrough,
  ending,
  hostPort,
  LO4,
  LO6,
  rt,
  startDecoder,
  v4,
  v6,
} from "./_traffic.ts";

describe(
  "sluice behind HAProxy send-proxy: accept_proxy_protocol and trusted_proxies",
  { skip: HAPROXY ? false : "haproxy is not installed (tests/_support/install_peers.sh)" },
  () => {
    let dir: { path: string; remove(): Promise<void> };
    let decoder: ReturnType<typeof startDecoder>;
    let haproxy: PeerDaemon | undefined;
    let fx: SluiceFixture | undefined;
    const p = { trusted: 0, untrusted: 0, hpV2: 0, hpV1: 0, hpUntrusted: 0, hpV6: 0 };

    before(async () => {
      dir = await tempDir("sluice-pp-in-");
      decoder = startDecoder();
      for (const k of Object.keys(p) as (keyof typeof p)[]) {
        p[k] = await freePort(rt, k === "hpV6" ? LO6 : LO4);
      }
      fx = await startSluiceFixture({
        rt,
        routing: `[[services]]
name = "trusted"
listener = "local:${p.trusted}"
backends = ["${LO4}:${decoder.port}"]
accept_proxy_protocol = true
trusted_proxies = ["127.0.0.1/32"]
proxy_protocol = "v1"

[[services]]
name = "untrusted"
listener = "local:${p.untrusted}"
backends = ["${LO4}:${decoder.port}"]
accept_proxy_protocol = true
trusted_proxies = ["10.0.0.0/8"]
proxy_protocol = "v1"
`,
      });
      await fx.waitListening([hostPort(LO4, p.trusted), hostPort(LO4, p.untrusted)]);
      haproxy = await startHaproxy(
        dir.path,
        `frontend v2_in
  bind ${LO4}:${p.hpV2}
  default_backend sluice_v2
frontend v1_in
  bind ${LO4}:${p.hpV1}
  default_backend sluice_v1
frontend v6_in
  bind ipv6@${LO6}:${p.hpV6}
  default_backend sluice_v2
frontend untrusted_in
  bind ${LO4}:${p.hpUntrusted}
  default_backend sluice_untrusted
backend sluice_v2
  server s ${LO4}:${p.trusted} send-proxy-v2
backend sluice_v1
  server s ${LO4}:${p.trusted} send-proxy
backend sluice_untrusted
  server s ${LO4}:${p.untrusted} send-proxy-v2
`,
        {
          rt,
          ready: [
            { host: LO4, port: p.hpV2 },
            { host: LO4, port: p.hpV1 },
            { host: LO6, port: p.hpV6 },
            { host: LO4, port: p.hpUntrusted },
          ],
        },
      );
    });

    after(async () => {
      await haproxy?.stop();
      await fx?.stop();
      decoder?.close();
      await dir?.remove();
    });

    for (
      const [name, port, host] of [
        ["send-proxy-v2", () => p.hpV2, LO4],
        ["send-proxy (v1)", () => p.hpV1, LO4],
        ["send-proxy-v2 from a ::1 client", () => p.hpV6, LO6],
      ] as const
    ) {
      it(`HAProxy ${name}: the backend sees the address HAProxy saw, not HAProxy's`, {
        timeout: 30_000,
      }, async () => {
        const { seen, client } = await decodedThrough(host, port());
        const fam = host === LO4 ? v4 : v6;
        // src: the client's own address and port (HAProxy's outgoing port would differ);
        // dst: the HAProxy frontend the client dialled, carried through sluice.
        assert.deepEqual(seen, { src: fam(host, client.port), dst: fam(host, port()) });
        // The access line is written when the connection ends, after HAProxy closes.
        await waitFor(
          () =>
            fx!.sluice.lines.some((l) => l.includes(`client_addr=${hostPort(host, client.port)}`)),
          { timeoutMs: 10_000, what: "the access log to name the real client" },
        );
      });
    }

    it("a source outside trusted_proxies is closed before any backend is dialled", {
      timeout: 30_000,
    }, async () => {
      const before = decoder.accepted;
      // Through HAProxy: a well-formed header from 127.0.0.1, which is not 10.0.0.0/8.
      const viaHaproxy = await rt.connect({ host: LO4, port: p.hpUntrusted, timeoutMs: 5000 });
      try {
        await viaHaproxy.write(bytes("hello"));
        const e = await ending(viaHaproxy, 10_000);
        assert.notEqual(e.kind, "open", "closed, not hung");
        assert.equal(e.data, "");
      } finally {
        viaHaproxy.close();
      }
      // Directly, with a valid v1 header.
      const direct = await rt.connect({ host: LO4, port: p.untrusted, timeoutMs: 5000 });
      try {
        await direct.write(encodeProxyV1(v4("192.0.2.1", 1234), v4(LO4, p.untrusted)))
          .catch(() => {});
        const e = await ending(direct, 10_000);
        assert.notEqual(e.kind, "open", "closed, not hung");
        assert.equal(e.data, "");
      } finally {
        direct.close();
      }
      await fx!.sluice.waitForLine(/untrusted source/, 5000);
      assert.ok(
        fx!.sluice.lines.some((l) =>
          /untrusted source/.test(l) && l.includes(hostPort(LO4, p.untrusted))
        ),
        "the warning names the listener",
      );
      await delay(200);
      assert.equal(decoder.accepted, before, "no backend connection was made");
    });

    for (
      const [name, payload, re] of [
        ["a truncated v1 line", "PROXY TCP4 192.0.2.1\r\n", /6 fields/],
        ["plain HTTP instead of a header", "GET / HTTP/1.0\r\n\r\n", /signature/],
        ["a broken v2 signature", "\r\n\r\n\0\r\nQUIT\x0b\x21\x11\0\x0c", /signature/],
      ] as const
    ) {
      it(`${name} from a trusted source is closed and logged`, { timeout: 30_000 }, async () => {
        const before = decoder.accepted;
        const logged = fx!.sluice.lines.length;
        const c = await rt.connect({ host: LO4, port: p.trusted, timeoutMs: 5000 });
        try {
          await c.write(bytes(payload)).catch(() => {});
          const e = await ending(c, 10_000);
          assert.notEqual(e.kind, "open", "closed, not hung");
          assert.equal(e.data, "");
        } finally {
          c.close();
        }
        const line = await waitFor(
          () =>
            fx!.sluice.lines.slice(logged).find((l) =>
              /bad PROXY header/.test(l) && l.includes(`client_addr=${hostPort(LO4, c.local.port)}`)
            ),
          { timeoutMs: 5000, what: "the bad-header warning" },
        );
        assert.match(line, re);
        await delay(200);
        assert.equal(decoder.accepted, before, "no backend connection was made");
      });
    }

    it("a trusted source that never sends its header is closed (bounded wait)", {
      timeout: 30_000,
    }, async () => {
      const before = decoder.accepted;
      const c = await rt.connect({ host: LO4, port: p.trusted, timeoutMs: 5000 });
      try {
        const e = await ending(c, 15_000);
        assert.notEqual(e.kind, "open", "closed within 15 s");
      } finally {
        c.close();
      }
      assert.equal(decoder.accepted, before);
    });
  },
);
