// PROXY protocol v1/v2 codec: byte-exact vectors both ways, malformed input, and round-trip
// properties. Reading a header off a connection is in proxy_protocol_read_test.ts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeProxyHeader,
  encodeProxyV1,
  encodeProxyV2,
  encodeProxyV2Local,
} from "../../src/proxy/proxy_protocol.ts";
import { SluiceError } from "../../src/errors.ts";
import type { SockAddr } from "../../src/runtime/types.ts";

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
