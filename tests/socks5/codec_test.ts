// Byte-level tables for the SOCKS5 codec, and round-trip properties over every address type.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ATYP_DOMAIN,
  ATYP_IPV4,
  ATYP_IPV6,
  encodeConnect,
  encodeGreeting,
  encodeMethodSelection,
  encodeReply,
  encodeUserPass,
  encodeUserPassReply,
  parseGreeting,
  parseMethodSelection,
  parseReply,
  parseRequest,
  parseUserPass,
  parseUserPassReply,
  replyMessage,
} from "../../src/socks5/codec.ts";
import { Socks5Error } from "../../src/socks5/errors.ts";
import { formatIPv6, parseIPv4, parseIPv6 } from "../../src/net/ip_literal.ts";

const b = (...xs: number[]) => Uint8Array.from(xs);

function assertGarbage(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Socks5Error, `expected Socks5Error, got ${e}`);
    assert.equal(e.code, "SOCKS5");
    assert.equal(e.kind, "garbage");
    assert.match(e.message, pattern);
    return true;
  });
}

describe("greeting and method selection", () => {
  it("encodeGreeting() lists the methods offered", () => {
    assert.deepEqual(encodeGreeting([0x00]), b(5, 1, 0));
    assert.deepEqual(encodeGreeting([0x00, 0x02]), b(5, 2, 0, 2));
    assert.throws(() => encodeGreeting([]), RangeError);
  });

  it("parseGreeting() reads the offered methods and waits for the rest", () => {
    assert.deepEqual(parseGreeting(b()), { status: "incomplete" });
    assert.deepEqual(parseGreeting(b(5)), { status: "incomplete" });
    assert.deepEqual(parseGreeting(b(5, 2, 0)), { status: "incomplete" });
    assert.deepEqual(parseGreeting(b(5, 2, 0, 2, 9)), {
      status: "ok",
      consumed: 4,
      methods: [0, 2],
    });
    assertGarbage(() => parseGreeting(b(4, 1, 0)), /greeting version 0x04/);
    assertGarbage(() => parseGreeting(b(5, 0)), /no method/);
  });

  it("parseMethodSelection() reads VER, METHOD and refuses other versions", () => {
    assert.deepEqual(parseMethodSelection(b()), { status: "incomplete" });
    assert.deepEqual(parseMethodSelection(b(5)), { status: "incomplete" });
    assert.deepEqual(parseMethodSelection(b(5, 0)), { status: "ok", consumed: 2, method: 0 });
    assert.deepEqual(parseMethodSelection(b(5, 2, 7, 7)), { status: "ok", consumed: 2, method: 2 });
    assert.deepEqual(parseMethodSelection(b(5, 0xff)), {
      status: "ok",
      consumed: 2,
      method: 0xff,
    });
    assertGarbage(() => parseMethodSelection(b(4, 0)), /method selection version 0x04/);
    // An HTTP proxy answering a SOCKS greeting.
    assertGarbage(
      () => parseMethodSelection(new TextEncoder().encode("HTTP/1.1 400")),
      /version 0x48/,
    );
    assert.deepEqual(encodeMethodSelection(2), b(5, 2));
  });
});

describe("username/password sub-negotiation (RFC 1929)", () => {
  it("encodeUserPass() writes VER 1 and length-prefixed UTF-8 fields", () => {
    assert.deepEqual(encodeUserPass("ab", "xyz"), b(1, 2, 0x61, 0x62, 3, 0x78, 0x79, 0x7a));
    assert.deepEqual(encodeUserPass("é", ""), b(1, 2, 0xc3, 0xa9, 0));
    assert.deepEqual(encodeUserPass("u".repeat(255), "p".repeat(255)).length, 3 + 510);
  });

  it("encodeUserPass() refuses fields over 255 bytes without echoing them", () => {
    const secret = "s3cr3t".repeat(50);
    assert.throws(() => encodeUserPass("u", secret), (e: unknown) => {
      assert.ok(e instanceof RangeError);
      assert.match(e.message, /password: 300 bytes/);
      assert.ok(!e.message.includes("s3cr3t"));
      return true;
    });
    assert.throws(() => encodeUserPass("ü".repeat(128), "p"), /username: 256 bytes/);
  });

  it("parseUserPass() decodes what encodeUserPass() wrote, incrementally", () => {
    const frame = encodeUserPass("user", "pass");
    for (let i = 0; i < frame.length; i++) {
      assert.deepEqual(parseUserPass(frame.subarray(0, i)), { status: "incomplete" });
    }
    assert.deepEqual(parseUserPass(frame), {
      status: "ok",
      consumed: frame.length,
      username: "user",
      password: "pass",
    });
    assertGarbage(() => parseUserPass(b(5, 1, 0x61, 0)), /username\/password version 0x05/);
  });

  it("parseUserPassReply() tells success from rejection", () => {
    assert.deepEqual(parseUserPassReply(b()), { status: "incomplete" });
    assert.deepEqual(parseUserPassReply(b(1)), { status: "incomplete" });
    assert.deepEqual(parseUserPassReply(b(1, 0)), { status: "ok", consumed: 2, ok: true, code: 0 });
    assert.deepEqual(parseUserPassReply(b(1, 1)), {
      status: "ok",
      consumed: 2,
      ok: false,
      code: 1,
    });
    assert.deepEqual(parseUserPassReply(b(1, 0xff)), {
      status: "ok",
      consumed: 2,
      ok: false,
      code: 0xff,
    });
    // Some servers echo the SOCKS version here; the status still counts.
    assert.deepEqual(parseUserPassReply(b(5, 0)), { status: "ok", consumed: 2, ok: true, code: 0 });
    assertGarbage(() => parseUserPassReply(b(2, 0)), /reply version 0x02/);
    assert.deepEqual(encodeUserPassReply(1), b(1, 1));
  });
});

describe("CONNECT request", () => {
  it("encodeConnect() picks ATYP 1 for IPv4 literals", () => {
    assert.deepEqual(
      encodeConnect({ host: "10.1.2.3", port: 443 }),
      b(5, 1, 0, 1, 10, 1, 2, 3, 0x01, 0xbb),
    );
  });

  it("encodeConnect() picks ATYP 4 for IPv6 literals, bracketed or not", () => {
    const want = b(5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 7, 0x15, 0x38);
    assert.deepEqual(encodeConnect({ host: "2001:db8::7", port: 5432 }), want);
    assert.deepEqual(encodeConnect({ host: "[2001:db8::7]", port: 5432 }), want);
    assert.deepEqual(
      encodeConnect({ host: "::ffff:1.2.3.4", port: 1 }),
      b(5, 1, 0, 4, ...new Array(10).fill(0), 0xff, 0xff, 1, 2, 3, 4, 0, 1),
    );
  });

  it("encodeConnect() sends anything else as a domain name (ATYP 3)", () => {
    assert.deepEqual(
      encodeConnect({ host: "db.internal", port: 80 }),
      b(5, 1, 0, 3, 11, ...new TextEncoder().encode("db.internal"), 0, 80),
    );
    // Not quite IP literals: they travel as names for the proxy to judge.
    for (const host of ["1.2.3", "1.2.3.256", "01.2.3.4", "1:2:3", "1::2::3"]) {
      assert.equal(encodeConnect({ host, port: 1 })[3], ATYP_DOMAIN, host);
    }
  });

  it("encodeConnect() takes a domain of 255 bytes and refuses 256 or an empty one", () => {
    const name = "a".repeat(255);
    const frame = encodeConnect({ host: name, port: 1 });
    assert.equal(frame.length, 4 + 1 + 255 + 2);
    assert.equal(frame[4], 255);
    assert.throws(() => encodeConnect({ host: "a".repeat(256), port: 1 }), /256 bytes/);
    assert.throws(() => encodeConnect({ host: "", port: 1 }), /0 bytes/);
  });

  it("encodeConnect() refuses ports outside 0-65535 and a host that does not fit its ATYP", () => {
    assert.throws(() => encodeConnect({ host: "1.2.3.4", port: 65536 }), /port 65536/);
    assert.throws(() => encodeConnect({ host: "1.2.3.4", port: -1 }), /port -1/);
    assert.throws(() => encodeConnect({ host: "name", port: 1, atyp: ATYP_IPV4 }), /not an IPv4/);
    assert.throws(
      () => encodeConnect({ host: "1.2.3.4", port: 1, atyp: ATYP_IPV6 }),
      /not an IPv6/,
    );
  });

  it("encodeConnect() can send an IP literal as a name when asked", () => {
    assert.deepEqual(
      encodeConnect({ host: "1.2.3.4", port: 1, atyp: ATYP_DOMAIN }),
      b(5, 1, 0, 3, 7, ...new TextEncoder().encode("1.2.3.4"), 0, 1),
    );
  });

  it("parseRequest() reads the command and address", () => {
    assert.deepEqual(parseRequest(encodeConnect({ host: "db.internal", port: 80 })), {
      status: "ok",
      consumed: 18,
      request: { command: 1, atyp: ATYP_DOMAIN, host: "db.internal", port: 80 },
    });
  });
});

describe("CONNECT reply", () => {
  const okV4 = b(5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38);

  it("parseReply() reads an IPv4 reply and reports what it consumed", () => {
    assert.deepEqual(parseReply(okV4), {
      status: "ok",
      consumed: 10,
      reply: { reply: 0, atyp: ATYP_IPV4, host: "127.0.0.1", port: 1080 },
    });
  });

  it("parseReply() reads IPv6 and domain replies", () => {
    assert.deepEqual(
      parseReply(b(5, 0, 0, 4, ...new Array(15).fill(0), 1, 0, 80)),
      { status: "ok", consumed: 22, reply: { reply: 0, atyp: ATYP_IPV6, host: "::1", port: 80 } },
    );
    assert.deepEqual(
      parseReply(b(5, 0, 0, 3, 4, 0x68, 0x6f, 0x73, 0x74, 0, 81)),
      {
        status: "ok",
        consumed: 11,
        reply: { reply: 0, atyp: ATYP_DOMAIN, host: "host", port: 81 },
      },
    );
  });

  it("parseReply() answers incomplete for every truncation of every address type", () => {
    const frames = [
      okV4,
      encodeReply({ reply: 0, host: "2001:db8::1", port: 9 }),
      encodeReply({ reply: 0, host: "x".repeat(255), port: 9 }),
    ];
    for (const f of frames) {
      for (let i = 0; i < f.length; i++) {
        assert.deepEqual(parseReply(f.subarray(0, i)), { status: "incomplete" }, `${f[3]}@${i}`);
      }
      const r = parseReply(f);
      assert.equal(r.status, "ok");
      assert.equal(r.status === "ok" && r.consumed, f.length);
    }
  });

  it("parseReply() leaves the bytes after the reply (the backend's first bytes) unconsumed", () => {
    const withData = b(...okV4, 0x48, 0x49);
    const r = parseReply(withData);
    assert.ok(r.status === "ok");
    assert.equal(r.consumed, 10);
    assert.deepEqual(withData.subarray(r.consumed), b(0x48, 0x49));
  });

  it("parseReply() throws on bad version, reserved byte, unknown ATYP, non-UTF-8 name", () => {
    assertGarbage(() => parseReply(b(4, 0, 0, 1, 1, 2, 3, 4, 0, 80)), /reply version 0x04/);
    assertGarbage(() => parseReply(b(0, 0x5a)), /reply version 0x00/); // a SOCKS4 answer
    assertGarbage(() => parseReply(b(5, 0, 1, 1, 1, 2, 3, 4, 0, 80)), /reserved byte 0x01/);
    assertGarbage(() => parseReply(b(5, 0, 0, 2, 1, 2, 3, 4, 0, 80)), /address type 0x02/);
    assertGarbage(() => parseReply(b(5, 0, 0, 0xff)), /address type 0xff/);
    assertGarbage(() => parseReply(b(5, 0, 0, 3, 2, 0xff, 0xfe, 0, 80)), /not UTF-8/);
    // Garbage is seen as early as it can be: no waiting for a full frame.
    assertGarbage(() => parseReply(b(0x48)), /version 0x48/);
  });

  const codes: [number, RegExp][] = [
    [0x01, /^general SOCKS server failure \(reply 0x01\)$/],
    [0x02, /^connection not allowed by ruleset \(reply 0x02\)$/],
    [0x03, /^network unreachable \(reply 0x03\)$/],
    [0x04, /^host unreachable \(reply 0x04\)$/],
    [0x05, /^connection refused \(reply 0x05\)$/],
    [0x06, /^TTL expired \(reply 0x06\)$/],
    [0x07, /^command not supported \(reply 0x07\)$/],
    [0x08, /^address type not supported \(reply 0x08\)$/],
    [0x09, /^unassigned reply code \(reply 0x09\)$/],
    [0xff, /^unassigned reply code \(reply 0xff\)$/],
  ];
  for (const [code, message] of codes) {
    it(`parseReply() returns reply code 0x${code.toString(16)} with a clear message`, () => {
      const frame = encodeReply({ reply: code, host: "0.0.0.0", port: 0 });
      assert.deepEqual(frame, b(5, code, 0, 1, 0, 0, 0, 0, 0, 0));
      const r = parseReply(frame);
      assert.ok(r.status === "ok");
      assert.equal(r.reply.reply, code);
      assert.match(replyMessage(code), message);
    });
  }
});

describe("IP literals", () => {
  it("parseIPv6() and formatIPv6() follow RFC 5952", () => {
    const cases: [string, string][] = [
      ["::", "::"],
      ["::1", "::1"],
      ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero word is not "::"
      ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run wins
      ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"], // first of equal runs wins
      ["::ffff:10.0.0.1", "::ffff:a00:1"],
      ["fe80::", "fe80::"],
    ];
    for (const [input, want] of cases) {
      const bytes = parseIPv6(input);
      assert.ok(bytes, input);
      assert.equal(formatIPv6(bytes), want, input);
    }
    for (
      const bad of ["", ":", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "12345::", "::g", "1::2::3"]
    ) {
      assert.equal(parseIPv6(bad), null, bad);
    }
    assert.equal(parseIPv4("255.255.255.255")?.join("."), "255.255.255.255");
    assert.equal(parseIPv4("1.2.3.04"), null);
  });
});

describe("round-trip properties", () => {
  const port = fc.integer({ min: 0, max: 65535 });
  const v4 = fc.ipV4();
  const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map(formatIPv6);
  // Any UTF-8 text of 1-255 bytes that does not look like an IP literal.
  const domain = fc.string({ unit: "grapheme", minLength: 1, maxLength: 80 }).filter((s) => {
    const n = new TextEncoder().encode(s).length;
    return n >= 1 && n <= 255 && !parseIPv4(s) && !parseIPv6(s);
  });
  const address = fc.oneof(
    fc.record({ host: v4, port, atyp: fc.constant(ATYP_IPV4) }),
    fc.record({ host: v6, port, atyp: fc.constant(ATYP_IPV6) }),
    fc.record({ host: domain, port, atyp: fc.constant(ATYP_DOMAIN) }),
  );
  const tail = fc.uint8Array({ maxLength: 16 });

  it("parseRequest(encodeConnect(a)) gives a back, leaving trailing bytes alone", () => {
    fc.assert(
      fc.property(address, tail, (a, extra) => {
        const frame = encodeConnect({ host: a.host, port: a.port });
        assert.equal(frame[3], a.atyp);
        const r = parseRequest(Uint8Array.from([...frame, ...extra]));
        assert.deepEqual(r, {
          status: "ok",
          consumed: frame.length,
          request: { command: 1, ...a },
        });
      }),
      { numRuns: 300 },
    );
  });

  it("parseReply(encodeReply(r)) gives r back for every reply code and address type", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), address, tail, (code, a, extra) => {
        const frame = encodeReply({ reply: code, ...a });
        const r = parseReply(Uint8Array.from([...frame, ...extra]));
        assert.deepEqual(r, { status: "ok", consumed: frame.length, reply: { reply: code, ...a } });
        // Every proper prefix is incomplete, never garbage.
        const cut = Math.floor(frame.length / 2);
        assert.deepEqual(parseReply(frame.subarray(0, cut)), { status: "incomplete" });
      }),
      { numRuns: 300 },
    );
  });

  it("parseUserPass(encodeUserPass(u, p)) gives u and p back", () => {
    const field = fc.string({ maxLength: 60 }).filter((s) =>
      new TextEncoder().encode(s).length <= 255
    );
    fc.assert(
      fc.property(field, field, (username, password) => {
        const frame = encodeUserPass(username, password);
        assert.deepEqual(parseUserPass(frame), {
          status: "ok",
          consumed: frame.length,
          username,
          password,
        });
      }),
      { numRuns: 200 },
    );
  });

  it("parseGreeting(encodeGreeting(m)) gives m back", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 255 }),
        (m) => {
          const frame = encodeGreeting(m);
          assert.deepEqual(parseGreeting(frame), {
            status: "ok",
            consumed: frame.length,
            methods: m,
          });
        },
      ),
      { numRuns: 100 },
    );
  });
});
