// PROXY protocol v1/v2: byte-exact vectors both ways, malformed input, and reading a header off
// a connection (split across writes, payload in the same segment).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import fc from "fast-check";
import {
  decodeProxyHeader,
  encodeProxyV1,
  encodeProxyV2,
  encodeProxyV2Local,
  readProxyHeader,
} from "../../src/proxy/proxy_protocol.ts";
import { SluiceError } from "../../src/errors.ts";
import type { Conn, Runtime, SockAddr } from "../../src/runtime/types.ts";
import {
  canConnect,
  freePort,
  readAll,
  runtime,
  startServer,
  tempDir,
  type TestServer,
} from "../_support/helpers.ts";
import { delay, waitFor } from "../_support/wait.ts";

const enc = new TextEncoder();
const hex = (s: string) =>
  new Uint8Array(s.replace(/\s+/g, "").match(/../g)!.map((b) => parseInt(b, 16)));
const SIG = "0d0a0d0a000d0a515549540a";

const v4 = (host: string, port: number): SockAddr => ({ host, port, family: 4 });
const v6 = (host: string, port: number): SockAddr => ({ host, port, family: 6 });

function malformed(buf: Uint8Array, re: RegExp): void {
  assert.throws(() => decodeProxyHeader(buf), (e: unknown) => {
    assert.ok(e instanceof SluiceError);
    assert.equal(e.code, "PROXY_PROTOCOL");
    assert.match(e.message, re);
    return true;
  });
}

describe("PROXY v1", () => {
  it("encodes TCP4 exactly as the spec's example", () => {
    assert.deepEqual(
      encodeProxyV1(v4("192.168.0.1", 56324), v4("192.168.0.11", 443)),
      enc.encode("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
    );
  });

  it("encodes TCP6 in canonical text", () => {
    assert.deepEqual(
      encodeProxyV1(v6("2001:DB8:0:0:0:0:0:1", 1), v6("::1", 65535)),
      enc.encode("PROXY TCP6 2001:db8::1 ::1 1 65535\r\n"),
    );
  });

  it("encodes mixed families as TCP6 with the IPv4 side mapped", () => {
    assert.deepEqual(
      encodeProxyV1(v4("10.0.0.1", 1000), v6("2001:db8::9", 80)),
      enc.encode("PROXY TCP6 ::ffff:10.0.0.1 2001:db8::9 1000 80\r\n"),
    );
  });

  it("decodes TCP4 and reports the header length", () => {
    const line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    assert.deepEqual(decodeProxyHeader(enc.encode(line + "GET / HTTP/1.0\r\n")), {
      status: "ok",
      consumed: line.length,
      command: "PROXY",
      src: v4("192.168.0.1", 56324),
      dst: v4("192.168.0.11", 443),
    });
  });

  it("decodes TCP6, mapping ::ffff:a.b.c.d back to IPv4", () => {
    assert.deepEqual(
      decodeProxyHeader(enc.encode("PROXY TCP6 ::ffff:10.0.0.1 2001:db8:0::9 1000 80\r\n")),
      {
        status: "ok",
        consumed: 50,
        command: "PROXY",
        src: v4("10.0.0.1", 1000),
        dst: v6("2001:db8::9", 80),
      },
    );
  });

  it("decodes UNKNOWN without addresses, ignoring what follows it on the line", () => {
    assert.deepEqual(decodeProxyHeader(enc.encode("PROXY UNKNOWN\r\nxyz")), {
      status: "ok",
      consumed: 15,
      command: "PROXY",
    });
    const worst =
      "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert.equal(worst.length, 107);
    assert.deepEqual(decodeProxyHeader(enc.encode(worst)), {
      status: "ok",
      consumed: 107,
      command: "PROXY",
    });
  });

  it("asks for more bytes while the line is incomplete", () => {
    const line = enc.encode("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    for (let n = 0; n < line.length; n++) {
      assert.deepEqual(
        decodeProxyHeader(line.subarray(0, n)),
        { status: "incomplete" },
        `at ${n} bytes`,
      );
    }
  });

  const bad: [string, string, RegExp][] = [
    ["not a PROXY header", "GET / HTTP/1.1\r\n", /signature/],
    ["lower case", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", /signature/],
    ["unknown protocol", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", /TCP4, TCP6 or UNKNOWN/],
    ["missing a field", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", /6 fields/],
    ["double space", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", /6 fields/],
    ["IPv6 under TCP4", "PROXY TCP4 ::1 ::1 1 2\r\n", /IPv4/],
    ["IPv4 under TCP6", "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", /IPv6/],
    ["bad octet", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", /IPv4/],
    ["port too large", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", /port/],
    ["port not a number", "PROXY TCP4 1.2.3.4 5.6.7.8 1x 2\r\n", /port/],
    ["negative port", "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", /port/],
    ["bare LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nmore", /CR or LF/],
  ];
  for (const [name, text, re] of bad) it(`rejects ${name}`, () => malformed(enc.encode(text), re));

  it("rejects a line with no CRLF within 107 bytes", () => {
    malformed(enc.encode("PROXY UNKNOWN " + "x".repeat(100)), /longer than 107/);
  });
});

describe("PROXY v2", () => {
  // Captured from haproxy `send-proxy-v2`: 172.19.0.1:42578 -> 172.19.0.3:80, then "GET ".
  const haproxyV4 = hex(`${SIG} 21 11 000c ac130001 ac130003 a652 0050 47455420`);

  it("encodes TCP over IPv4 byte for byte as haproxy does", () => {
    assert.deepEqual(
      encodeProxyV2(v4("172.19.0.1", 42578), v4("172.19.0.3", 80)),
      haproxyV4.subarray(0, 28),
    );
  });

  it("decodes haproxy's header and leaves the payload", () => {
    assert.deepEqual(decodeProxyHeader(haproxyV4), {
      status: "ok",
      consumed: 28,
      command: "PROXY",
      src: v4("172.19.0.1", 42578),
      dst: v4("172.19.0.3", 80),
    });
  });

  const v6Header = hex(
    `${SIG} 21 21 0024 20010db8000000000000000000000001 00000000000000000000000000000001 1f90 01bb`,
  );

  it("encodes TCP over IPv6", () => {
    assert.deepEqual(encodeProxyV2(v6("2001:db8::1", 8080), v6("::1", 443)), v6Header);
  });

  it("decodes TCP over IPv6", () => {
    assert.deepEqual(decodeProxyHeader(v6Header), {
      status: "ok",
      consumed: 52,
      command: "PROXY",
      src: v6("2001:db8::1", 8080),
      dst: v6("::1", 443),
    });
  });

  it("encodes mixed families as TCP6 with the IPv4 side mapped, and decodes it back", () => {
    const h = encodeProxyV2(v4("192.0.2.5", 1234), v6("2001:db8::2", 5432));
    assert.deepEqual(
      h,
      hex(
        `${SIG} 21 21 0024 00000000000000000000ffffc0000205 20010db8000000000000000000000002 04d2 1538`,
      ),
    );
    const d = decodeProxyHeader(h);
    assert.equal(d.status, "ok");
    assert.deepEqual(d.status === "ok" ? [d.src, d.dst] : [], [
      v4("192.0.2.5", 1234),
      v6("2001:db8::2", 5432),
    ]);
  });

  it("encodes and decodes LOCAL, which carries no addresses", () => {
    assert.deepEqual(encodeProxyV2Local(), hex(`${SIG} 20 00 0000`));
    assert.deepEqual(decodeProxyHeader(hex(`${SIG} 20 00 0000 ff`)), {
      status: "ok",
      consumed: 16,
      command: "LOCAL",
    });
    // LOCAL with an address block: skipped, addresses ignored.
    assert.deepEqual(decodeProxyHeader(hex(`${SIG} 20 11 000c 0102030405060708 0001 0002`)), {
      status: "ok",
      consumed: 28,
      command: "LOCAL",
    });
  });

  it("skips TLVs after the addresses", () => {
    // PP2_TYPE_ALPN (0x01) "h2" and PP2_TYPE_NOOP (0x04) of 3 bytes.
    const h = hex(`${SIG} 21 11 0017 7f000001 7f000002 0001 0002 01 0002 6832 04 0003 000000 aa`);
    assert.deepEqual(decodeProxyHeader(h), {
      status: "ok",
      consumed: 16 + 23,
      command: "PROXY",
      src: v4("127.0.0.1", 1),
      dst: v4("127.0.0.2", 2),
    });
  });

  it("gives no addresses for UNSPEC, UDP and unix families (the real endpoints apply)", () => {
    assert.deepEqual(decodeProxyHeader(hex(`${SIG} 21 00 0000`)), {
      status: "ok",
      consumed: 16,
      command: "PROXY",
    });
    assert.deepEqual(decodeProxyHeader(hex(`${SIG} 21 12 000c 7f000001 7f000002 0001 0002`)), {
      status: "ok",
      consumed: 28,
      command: "PROXY",
    });
    const unix = new Uint8Array(16 + 216);
    unix.set(hex(`${SIG} 21 31 00d8`));
    assert.deepEqual(decodeProxyHeader(unix), { status: "ok", consumed: 232, command: "PROXY" });
  });

  it("asks for more bytes until the declared length has arrived", () => {
    const full = encodeProxyV2(v6("2001:db8::1", 8080), v6("::1", 443));
    for (let n = 0; n < full.length; n++) {
      assert.deepEqual(
        decodeProxyHeader(full.subarray(0, n)),
        { status: "incomplete" },
        `at ${n} bytes`,
      );
    }
  });

  const bad: [string, string, RegExp][] = [
    [
      "version 1 in the version nibble",
      `${SIG} 11 11 000c 7f000001 7f000002 0001 0002`,
      /version must be 2/,
    ],
    ["an unknown command", `${SIG} 22 11 000c 7f000001 7f000002 0001 0002`, /command/],
    ["an unknown family", `${SIG} 21 41 000c 7f000001 7f000002 0001 0002`, /family/],
    ["an unknown transport", `${SIG} 21 13 000c 7f000001 7f000002 0001 0002`, /transport/],
    ["a length too short for IPv4", `${SIG} 21 11 000b 7f000001 7f000002 0001 00`, /too short/],
    ["a length too short for IPv6", `${SIG} 21 21 000c 7f000001 7f000002 0001 0002`, /too short/],
    ["a broken signature", `0d0a0d0a000d0a515549540b 21 11 000c`, /signature/],
  ];
  for (const [name, h, re] of bad) it(`rejects ${name}`, () => malformed(hex(h), re));
});

describe("PROXY round trip (property)", () => {
  const ipv4 = fc.ipV4().map((h) => v4(h, 0));
  const ipv6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
    .filter((w) => !(w.slice(0, 5).every((x) => x === 0) && w[5] === 0xffff))
    .map((w) => v6(w.map((x) => x.toString(16)).join(":"), 0));
  const addr = fc.tuple(fc.oneof(ipv4, ipv6), fc.integer({ min: 0, max: 65535 })).map((
    [a, port],
  ) => ({ ...a, port }));
  const canon = (a: SockAddr) => {
    const d = decodeProxyHeader(encodeProxyV2(a, a));
    return d.status === "ok" ? d.src! : a;
  };

  for (const [name, encode] of [["v1", encodeProxyV1], ["v2", encodeProxyV2]] as const) {
    it(`${name}: decode(encode(src, dst)) gives back src and dst, with any payload left`, () => {
      fc.assert(
        fc.property(addr, addr, fc.uint8Array({ maxLength: 40 }), (src, dst, payload) => {
          const h = encode(src, dst);
          const buf = new Uint8Array(h.length + payload.length);
          buf.set(h);
          buf.set(payload, h.length);
          const d = decodeProxyHeader(buf);
          assert.equal(d.status, "ok");
          if (d.status !== "ok") return;
          assert.equal(d.consumed, h.length);
          assert.deepEqual(d.src, canon(src));
          assert.deepEqual(d.dst, canon(dst));
          assert.equal(d.src!.host.toLowerCase(), d.src!.host);
        }),
        { numRuns: 300 },
      );
    });
  }

  it("any byte string either decodes, asks for more, or throws PROXY_PROTOCOL", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 120 }),
          fc.string().map((s) => enc.encode("PROXY " + s)),
        ),
        (buf) => {
          try {
            const d = decodeProxyHeader(buf);
            if (d.status === "ok") assert.ok(d.consumed <= buf.length);
          } catch (e) {
            assert.ok(e instanceof SluiceError && e.code === "PROXY_PROTOCOL", String(e));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

/** A Conn fed from a list of chunks; records what is given back. */
function fakeConn(chunks: (Uint8Array | null | "hang")[]): Conn & { unshifted: Uint8Array[] } {
  const unshifted: Uint8Array[] = [];
  const a = v4("127.0.0.1", 1);
  return {
    remote: a,
    local: a,
    unshifted,
    setNoDelay() {},
    setKeepAlive() {},
    read(o?: { signal?: AbortSignal }) {
      const next = chunks.shift();
      if (next === "hang" || next === undefined) {
        return new Promise((_, reject) => {
          o?.signal?.addEventListener(
            "abort",
            () => reject(new SluiceError("ABORTED", "read aborted")),
            { once: true },
          );
        });
      }
      return Promise.resolve(next);
    },
    unshift(c) {
      unshifted.push(c);
    },
    write: () => Promise.resolve(),
    closeWrite: () => Promise.resolve(),
    close() {},
  };
}

describe("readProxyHeader", () => {
  it("reads a header split across chunks and gives back the payload that followed it", async () => {
    const h = encodeProxyV2(v4("203.0.113.9", 40000), v4("10.0.0.1", 5432));
    const tail = enc.encode("hello");
    const second = new Uint8Array(h.length - 10 + tail.length);
    second.set(h.subarray(10));
    second.set(tail, h.length - 10);
    const c = fakeConn([h.subarray(0, 3), h.subarray(3, 10), second]);
    assert.deepEqual(await readProxyHeader(c, { timeoutMs: 1000 }), {
      src: v4("203.0.113.9", 40000),
      dst: v4("10.0.0.1", 5432),
    });
    assert.deepEqual(c.unshifted, [tail]);
  });

  it("gives nothing back when the header ends exactly at a chunk boundary", async () => {
    const c = fakeConn([enc.encode("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")]);
    assert.deepEqual(await readProxyHeader(c, { timeoutMs: 1000 }), {
      src: v4("1.2.3.4", 1),
      dst: v4("5.6.7.8", 2),
    });
    assert.deepEqual(c.unshifted, []);
  });

  it("returns no addresses for LOCAL", async () => {
    const c = fakeConn([encodeProxyV2Local()]);
    assert.deepEqual(await readProxyHeader(c, { timeoutMs: 1000 }), {});
  });

  it("throws PROXY_PROTOCOL when no header arrives in time", async () => {
    const c = fakeConn([enc.encode("PROXY TCP4 1.2"), "hang"]);
    await assert.rejects(readProxyHeader(c, { timeoutMs: 50 }), (e: unknown) => {
      assert.ok(e instanceof SluiceError && e.code === "PROXY_PROTOCOL");
      assert.match(e.message, /within 50ms \(got 14 bytes\)/);
      return true;
    });
  });

  it("throws PROXY_PROTOCOL when the peer closes mid-header", async () => {
    const c = fakeConn([enc.encode("PROXY TCP4"), null]);
    await assert.rejects(readProxyHeader(c, { timeoutMs: 1000 }), /closed after 10 bytes/);
  });

  it("throws PROXY_PROTOCOL on a client that speaks without a header", async () => {
    const c = fakeConn([enc.encode("SSH-2.0-OpenSSH_9.6\r\n")]);
    await assert.rejects(readProxyHeader(c, { timeoutMs: 1000 }), { code: "PROXY_PROTOCOL" });
  });
});

// Interop with a real implementation: our header goes into HAProxy `accept-proxy`, HAProxy
// sends its own header onwards (`send-proxy` / `send-proxy-v2`) to a server that decodes it
// with readProxyHeader. The address we encoded must come out the other side, and the payload
// after the header must arrive intact.
const haproxy = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"].find((p) => existsSync(p));

describe(
  "PROXY protocol through HAProxy",
  { skip: haproxy ? false : "haproxy is not installed" },
  () => {
    let rt: Runtime;
    let child: ChildProcess | undefined;
    let dir: { path: string; remove(): Promise<void> } | undefined;
    let server: TestServer | undefined;
    const ports = { v1out: 0, v2out: 0 };
    const seen: { src?: SockAddr; dst?: SockAddr; payload: string }[] = [];

    before(async () => {
      rt = await runtime();
      server = startServer(rt, async (c) => {
        try {
          const h = await readProxyHeader(c, { timeoutMs: 3000 });
          const payload = await readAll(c, { timeoutMs: 3000 });
          seen.push({ ...h, payload });
          await c.write(enc.encode("seen"));
        } finally {
          c.close();
        }
      });
      ports.v1out = await freePort(rt);
      ports.v2out = await freePort(rt);
      dir = await tempDir("sluice-haproxy-");
      const conf = `
global
  maxconn 64
defaults
  mode tcp
  timeout connect 3s
  timeout client 10s
  timeout server 10s
frontend to_v1
  bind 127.0.0.1:${ports.v1out} accept-proxy
  default_backend send_v1
frontend to_v2
  bind 127.0.0.1:${ports.v2out} accept-proxy
  default_backend send_v2
backend send_v1
  server s 127.0.0.1:${server.port} send-proxy
backend send_v2
  server s 127.0.0.1:${server.port} send-proxy-v2
`;
      const file = join(dir.path, "haproxy.cfg");
      await writeFile(file, conf);
      const check = spawnSync(haproxy!, ["-c", "-f", file], { encoding: "utf8" });
      assert.equal(check.status, 0, check.stdout + check.stderr);
      child = spawn(haproxy!, ["-db", "-f", file], { stdio: "ignore" });
      await waitFor(
        async () => (await canConnect(rt, ports.v1out)) && (await canConnect(rt, ports.v2out)),
        {
          timeoutMs: 10_000,
          what: "haproxy to listen",
        },
      );
    });

    after(async () => {
      if (child?.pid && child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, "SIGTERM");
        const c = child;
        await waitFor(() => c.exitCode !== null || c.signalCode !== null, {
          timeoutMs: 5000,
          what: "haproxy to exit",
        })
          .catch(() => process.kill(c.pid!, "SIGKILL"));
      }
      server?.close();
      await dir?.remove();
    });

    async function through(port: number, header: Uint8Array, payload: string) {
      const before = seen.length;
      const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 3000 });
      try {
        const first = new Uint8Array(header.length + 5);
        first.set(header);
        first.set(enc.encode(payload.slice(0, 5)), header.length);
        await c.write(first);
        await delay(20);
        await c.write(enc.encode(payload.slice(5)));
        await c.closeWrite();
        assert.equal(await readAll(c, { timeoutMs: 5000 }), "seen");
      } finally {
        c.close();
      }
      await waitFor(() => seen.length > before, { timeoutMs: 5000, what: "the server to decode" });
      return seen[before]!;
    }

    const cases: [string, SockAddr, SockAddr][] = [
      ["IPv4", v4("203.0.113.7", 4242), v4("198.51.100.1", 5432)],
      ["IPv6", v6("2001:db8::7", 65000), v6("2001:db8:1::1", 443)],
    ];
    for (const [fam, src, dst] of cases) {
      for (const [inName, encode] of [["v1", encodeProxyV1], ["v2", encodeProxyV2]] as const) {
        for (const out of ["v1", "v2"] as const) {
          it(
            `our ${inName} ${fam} header is accepted by HAProxy, and its ${out} header decodes to the same addresses`,
            {
              timeout: 15_000,
            },
            async () => {
              const got = await through(
                out === "v1" ? ports.v1out : ports.v2out,
                encode(src, dst),
                "hello, backend",
              );
              assert.deepEqual(got, { src, dst, payload: "hello, backend" });
            },
          );
        }
      }
    }

    it(
      "a LOCAL header makes HAProxy use the real connection addresses",
      { timeout: 15_000 },
      async () => {
        const got = await through(ports.v2out, encodeProxyV2Local(), "local check");
        assert.equal(got.src?.host, "127.0.0.1");
        assert.equal(got.dst?.host, "127.0.0.1");
        assert.equal(got.dst?.port, ports.v2out);
        assert.equal(got.payload, "local check");
      },
    );
  },
);
