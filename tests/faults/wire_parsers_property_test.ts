// Property tests (fast-check) for the decoders that read bytes from peers (issue 12, fault
// suite): the PROXY v1/v2 decoder and the SOCKS5 reply decoders. Random bytes and mutated
// valid headers decode or fail with a SluiceError; decoders never ask for more bytes than a
// header or reply can hold (so a peer cannot make us buffer without bound); valid encodings
// decode back. FAULTS_PROPERTY_RUNS=N raises the run counts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { SluiceError } from "../../src/errors.ts";
import {
  decodeProxyHeader,
  encodeProxyV1,
  encodeProxyV2,
  V1_MAX,
  V2_MAX,
} from "../../src/proxy/proxy_protocol.ts";
import {
  encodeReply,
  parseMethodSelection,
  parseReply,
  parseUserPassReply,
} from "../../src/socks5/codec.ts";
import type { SockAddr } from "../../src/runtime/types.ts";
import { RUNS, valueOrSluiceError } from "./_property.ts";

// ---------------------------------------------------------------- PROXY protocol

const ipv4 = fc.ipV4();
const ipv6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }).map(
  (g) => g.map((x) => x.toString(16)).join(":"),
);
const port = fc.integer({ min: 0, max: 65535 });
const addrPair = fc.oneof(
  fc.tuple(ipv4, port, ipv4, port).map(([a, p, b, q]): [SockAddr, SockAddr] => [
    { host: a, port: p, family: 4 },
    { host: b, port: q, family: 4 },
  ]),
  fc.tuple(ipv6, port, ipv6, port).map(([a, p, b, q]): [SockAddr, SockAddr] => [
    { host: a, port: p, family: 6 },
    { host: b, port: q, family: 6 },
  ]),
);
const SIG = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);
const enc = new TextEncoder();

function withPrefix(prefix: Uint8Array, rest: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + rest.length);
  out.set(prefix);
  out.set(rest, prefix.length);
  return out;
}

describe("property: PROXY protocol decoder", () => {
  const decode = (b: Uint8Array) =>
    valueOrSluiceError(() => decodeProxyHeader(b), "PROXY_PROTOCOL");

  it("random bytes, and bytes after each signature, decode or fail with PROXY_PROTOCOL", {
    timeout: 60_000,
  }, () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }).map((b) => withPrefix(SIG, b)),
      fc.string({ maxLength: 150 }).map((s) => enc.encode("PROXY " + s)),
      fc.tuple(
        fc.constantFrom("TCP4", "TCP6", "UNKNOWN", "tcp4", "UDP4"),
        fc.string({ maxLength: 20 }),
        fc.string({ maxLength: 20 }),
        fc.string({ maxLength: 8 }),
        fc.string({ maxLength: 8 }),
      ).map((p) => enc.encode(`PROXY ${p.join(" ")}\r\n`)),
    );
    fc.assert(
      fc.property(input, (b) => {
        const r = decode(b);
        if (!(r instanceof SluiceError) && r.status === "ok") {
          assert.ok(r.consumed > 0 && r.consumed <= b.length, "consumed within the input");
        }
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it("never asks for more than a header can hold (v1: 107 bytes, v2: 16 + 65535)", {
    timeout: 60_000,
  }, () => {
    // v1 without its CRLF, longer than V1_MAX: must fail, not wait.
    fc.assert(
      fc.property(fc.string({ minLength: V1_MAX, maxLength: 400 }), (s) => {
        const b = enc.encode("PROXY " + s.replace(/[\r\n]/g, "x"));
        const r = decode(b);
        assert.ok(r instanceof SluiceError, `a ${b.length}-byte line without CRLF is refused`);
      }),
      { numRuns: RUNS },
    );
    // v2 whose length field is covered in full: decided (ok or error), never incomplete.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.nat(255), fc.nat(255), (len, vc, fam) => {
        const b = new Uint8Array(16 + len);
        b.set(SIG);
        b[12] = vc;
        b[13] = fam;
        b[14] = len >> 8;
        b[15] = len & 0xff;
        const r = decode(b);
        assert.ok(b.length <= V2_MAX);
        if (!(r instanceof SluiceError)) {
          assert.notEqual(r.status, "incomplete", `${b.length} bytes cover the header`);
        }
      }),
      { numRuns: 100 },
    );
  });

  it("valid v1 and v2 headers decode to their addresses; every prefix is incomplete", {
    timeout: 60_000,
  }, () => {
    fc.assert(
      fc.property(
        addrPair,
        fc.boolean(),
        fc.uint8Array({ maxLength: 16 }),
        ([src, dst], v2, tail) => {
          const header = v2 ? encodeProxyV2(src, dst) : encodeProxyV1(src, dst);
          const r = decode(withPrefix(header, tail));
          assert.ok(!(r instanceof SluiceError) && r.status === "ok", `decodes: ${String(r)}`);
          assert.equal(r.consumed, header.length);
          assert.equal(r.src?.port, src.port);
          assert.equal(r.dst?.port, dst.port);
          // Encoding what was decoded gives the same header (addresses survive the trip).
          assert.deepEqual(
            v2 ? encodeProxyV2(r.src!, r.dst!) : encodeProxyV1(r.src!, r.dst!),
            header,
          );
          for (let n = 0; n < header.length; n += 1 + Math.floor(header.length / 9)) {
            const p = decode(header.subarray(0, n));
            assert.ok(!(p instanceof SluiceError), `prefix ${n} is not an error`);
            assert.equal(p.status, "incomplete");
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("mutated valid headers decode or fail with PROXY_PROTOCOL", { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(
        addrPair,
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        ([src, dst], v2, flips, cut) => {
          const h = (v2 ? encodeProxyV2(src, dst) : encodeProxyV1(src, dst)).slice();
          for (const [i, v] of flips) h[i % h.length] = v;
          const b = h.subarray(0, h.length - (cut % 4));
          const r = decode(b);
          if (!(r instanceof SluiceError) && r.status === "ok") {
            assert.ok(r.consumed <= b.length);
          }
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });
});

// ---------------------------------------------------------------- SOCKS5 replies

/** VER, REP, RSV, ATYP, at most 1 + 255 address bytes, 2 port bytes. */
const MAX_REPLY = 4 + 1 + 255 + 2;

describe("property: SOCKS5 reply decoders", () => {
  const socks = <T>(f: () => T) => valueOrSluiceError(f, "SOCKS5");

  it("random bytes give a reply, incomplete, or a SOCKS5 error; never more than 262 wanted", {
    timeout: 60_000,
  }, () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(fc.constantFrom(1, 3, 4, 0, 2, 9), fc.nat(255), fc.uint8Array({ maxLength: 300 }))
        .map(([atyp, rep, rest]) => withPrefix(new Uint8Array([5, rep, 0, atyp]), rest)),
    );
    fc.assert(
      fc.property(input, (b) => {
        for (const f of [parseReply, parseMethodSelection, parseUserPassReply]) {
          const r = socks(() => f(b));
          if (r instanceof SluiceError) continue;
          if (r.status === "ok") assert.ok(r.consumed <= b.length);
          else assert.ok(b.length < MAX_REPLY, `incomplete after ${b.length} bytes`);
        }
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it("encoded replies decode back; every prefix is incomplete", { timeout: 60_000 }, () => {
    const host = fc.oneof(
      ipv4,
      ipv6,
      fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,60}$/),
    );
    fc.assert(
      fc.property(fc.nat(255), host, port, fc.uint8Array({ maxLength: 8 }), (rep, h, p, tail) => {
        const frame = encodeReply({ reply: rep, host: h, port: p });
        const r = socks(() => parseReply(withPrefix(frame, tail)));
        assert.ok(!(r instanceof SluiceError) && r.status === "ok", `decodes: ${String(r)}`);
        assert.equal(r.consumed, frame.length);
        assert.equal(r.reply.reply, rep);
        assert.equal(r.reply.port, p);
        assert.deepEqual(
          encodeReply({ reply: rep, host: r.reply.host, port: p, atyp: r.reply.atyp }),
          frame,
        );
        for (let n = 0; n < frame.length; n++) {
          const q = socks(() => parseReply(frame.subarray(0, n)));
          assert.ok(!(q instanceof SluiceError) && q.status === "incomplete", `prefix ${n}`);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
