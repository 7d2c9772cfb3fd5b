// parseClientHello over real captured ClientHellos (whole, byte by byte, random splits, other
// record framings), hand-made malformed ones, and random or corrupted bytes (property tests).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { type ClientHelloResult, parseClientHello } from "../../../src/proxy/sni/client_hello.ts";
import { concatBytes, frame, handshakeBytes, reframe, withExtension } from "./_tls_frames.ts";

const DIR = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "fixtures");
const fixture = (name: string) => new Uint8Array(readFileSync(join(DIR, `${name}.bin`)));
const enc = new TextEncoder();

const FIXTURES: Record<string, ClientHelloResult> = {
  openssl_tls12_sni: { kind: "name", name: "db.example.com" },
  openssl_tls12_nosni: { kind: "no_sni" },
  // sent as "Web.Apps.Example.COM."
  openssl_tls13_sni: { kind: "name", name: "web.apps.example.com" },
  openssl_tls13_nosni: { kind: "no_sni" },
  curl_sni: { kind: "name", name: "curl.example.com" },
  // curl to an IP address sends no server name
  curl_nosni: { kind: "no_sni" },
  // sent as "Old.Example.com", TLS 1.2 at most
  curl_tls12_sni: { kind: "name", name: "old.example.com" },
  fragmented: { kind: "name", name: "web.apps.example.com" },
  large: { kind: "name", name: "web.apps.example.com" },
};
const ALL = Object.fromEntries(Object.keys(FIXTURES).map((k) => [k, fixture(k)]));

/** Feeds `b` in pieces ending at `cuts` (sorted), as a caller re-parsing all bytes so far. */
function feed(b: Uint8Array, cuts: readonly number[]): ClientHelloResult {
  let last: ClientHelloResult = { kind: "need_more", atLeast: 1 };
  for (const end of [...cuts, b.length]) {
    last = parseClientHello(b.subarray(0, end));
    if (last.kind !== "need_more") return last;
    assert.ok(last.atLeast > end, `atLeast ${last.atLeast} must exceed ${end}`);
  }
  return last;
}

function u16(n: number): number[] {
  return [n >> 8, n & 0xff];
}

/** A server_name extension's data holding the given (type, name) entries. */
function sniData(entries: readonly [number, string][]): Uint8Array {
  const list = entries.flatMap(([t, n]) => [t, ...u16(n.length), ...enc.encode(n)]);
  return new Uint8Array([...u16(list.length), ...list]);
}

/** The no-SNI TLS 1.3 capture with an extension added first. */
const plus = (type: number, data: Uint8Array) =>
  withExtension(ALL["openssl_tls13_nosni"]!, type, data);

/** A minimal ClientHello with the given extensions block (undefined: none at all). */
function minimal(exts?: readonly [number, Uint8Array][]): Uint8Array {
  const body = [0x03, 0x03, ...new Array(32).fill(7), 0, ...u16(2), 0x13, 0x01, 1, 0];
  if (exts) {
    const e = exts.flatMap(([t, d]) => [...u16(t), ...u16(d.length), ...d]);
    body.push(...u16(e.length), ...e);
  }
  const msg = new Uint8Array([1, 0, ...u16(body.length), ...body]);
  return frame(msg, [16384]);
}

describe("parseClientHello on captured ClientHellos", () => {
  for (const [name, want] of Object.entries(FIXTURES)) {
    it(`${name}: whole, byte by byte, and every shorter prefix needs more`, () => {
      const b = ALL[name]!;
      assert.deepEqual(parseClientHello(b), want);
      const byByte = Array.from({ length: b.length - 1 }, (_, i) => i + 1);
      assert.deepEqual(feed(b, [0, ...byByte]), want);
    });

    it(`${name}: random splits and random record framings give the same answer`, () => {
      const b = ALL[name]!;
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.integer({ min: 0, max: b.length - 1 }), { maxLength: 30 }),
          fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 8 }),
          (cuts, sizes) => {
            assert.deepEqual(feed(b, cuts.sort((x, y) => x - y)), want);
            const re = reframe(b, sizes);
            assert.deepEqual(parseClientHello(re), want);
            assert.deepEqual(
              feed(re, cuts.filter((c) => c < re.length).sort((x, y) => x - y)),
              want,
            );
          },
        ),
        { numRuns: 60 },
      );
    });
  }

  it("the large fixture is larger than one packet and its name lies beyond the first", () => {
    const b = ALL["large"]!;
    assert.ok(b.length > 1500, `${b.length} bytes`);
    assert.equal(parseClientHello(b.subarray(0, 1460)).kind, "need_more");
  });

  it("the fragmented fixture carries its handshake header across several records", () => {
    const b = ALL["fragmented"]!;
    assert.deepEqual([...b.subarray(0, 6)], [0x16, 0x03, 0x01, 0, 1, 0x01]);
    assert.deepEqual(handshakeBytes(b), handshakeBytes(ALL["openssl_tls13_sni"]!));
  });
});

describe("parseClientHello on other and malformed input", () => {
  const notTls: [string, Uint8Array][] = [
    ["an HTTP request", enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
    ["an SSLv2-compatible hello", new Uint8Array([0x80, 0x2e, 0x01, 0x03, 0x01, 0, 0x15])],
    ["an SSH banner", enc.encode("SSH-2.0-OpenSSH_9.2\r\n")],
    ["a TLS alert record", new Uint8Array([0x15, 0x03, 0x01, 0, 2, 2, 40])],
    ["record version 2.0", new Uint8Array([0x16, 0x02])],
    ["record version 3.5", new Uint8Array([0x16, 0x03, 0x05])],
    ["a record longer than 2^14 (known from its high byte)", new Uint8Array([0x16, 3, 1, 0x41])],
    ["a record of 2^14 + 1", new Uint8Array([0x16, 3, 1, 0x40, 0x01])],
    ["an empty handshake record", new Uint8Array([0x16, 3, 1, 0, 0])],
    ["a ServerHello", new Uint8Array([0x16, 3, 1, 0, 4, 0x02, 0, 0, 60])],
    [
      "a ClientHello shorter than its fixed fields",
      new Uint8Array([0x16, 3, 1, 0, 4, 1, 0, 0, 40]),
    ],
    [
      "a handshake header split over records, the second not handshake",
      new Uint8Array([0x16, 3, 1, 0, 2, 1, 0, 0x17, 3, 3, 0, 2, 0, 60]),
    ],
  ];
  for (const [what, b] of notTls) {
    it(`${what} is not TLS`, () => {
      assert.deepEqual(parseClientHello(b), { kind: "not_tls" });
    });
  }

  it("needs more for nothing, one byte, and a partial record header", () => {
    for (const b of [[], [0x16], [0x16, 3], [0x16, 3, 1, 0x40]]) {
      const r = parseClientHello(new Uint8Array(b));
      assert.equal(r.kind, "need_more", JSON.stringify(b));
    }
    const r = parseClientHello(new Uint8Array([0x16, 3, 1, 0, 200, 1, 0, 1, 0]));
    // 260 handshake bytes: the 200 of this record, then another record of at least 60.
    assert.deepEqual(r, { kind: "need_more", atLeast: 5 + 200 + 5 + 60 });
  });

  it("a record that lies about its length is found out at the next record header", () => {
    const good = ALL["openssl_tls13_sni"]!;
    const hs = handshakeBytes(good);
    // The first record claims 50 bytes but the next "record" starts mid-message.
    const lying = concatBytes([new Uint8Array([0x16, 3, 1, 0, 50]), hs]);
    assert.deepEqual(parseClientHello(lying), { kind: "not_tls" });
  });

  it("a ClientHello without extensions has no server name", () => {
    assert.deepEqual(parseClientHello(minimal()), { kind: "no_sni" });
    assert.deepEqual(parseClientHello(minimal([])), { kind: "no_sni" });
  });

  it("reads host_name among other name types and ignores an empty server_name", () => {
    const d = sniData([[7, "other"], [0, "A.Example.Org"]]);
    assert.deepEqual(parseClientHello(minimal([[0, d]])), { kind: "name", name: "a.example.org" });
    assert.deepEqual(parseClientHello(minimal([[0, new Uint8Array(0)]])), { kind: "no_sni" });
    assert.deepEqual(parseClientHello(minimal([[0, sniData([[7, "x"]])]])), { kind: "no_sni" });
  });

  const malformed: [string, Uint8Array][] = [
    ["two host_names", plus(0, sniData([[0, "a.example"], [0, "b.example"]]))],
    ["two server_name extensions", minimal([[0, sniData([[0, "a"]])], [0, sniData([[0, "b"]])]])],
    ["a host name with a space", plus(0, sniData([[0, "a b.example"]]))],
    ["a host name with a NUL", plus(0, sniData([[0, "a\0.example"]]))],
    ["a host name with an empty label", plus(0, sniData([[0, "a..example"]]))],
    ["a host name that is only a dot", plus(0, sniData([[0, "."]]))],
    ["a label of 64 characters", plus(0, sniData([[0, "a".repeat(64) + ".example"]]))],
    ["a name list shorter than its data", plus(0, new Uint8Array([0, 3, 0, 0, 1, 0x61, 0]))],
    ["a name longer than its list", plus(0, new Uint8Array([0, 4, 0, 0, 5, 0x61]))],
    ["an empty name list", plus(0, new Uint8Array([0, 0]))],
    ["one byte of server_name data", plus(0, new Uint8Array([0]))],
  ];
  for (const [what, b] of malformed) {
    it(`a ClientHello with ${what} is not TLS`, () => {
      assert.deepEqual(parseClientHello(b), { kind: "not_tls" });
    });
  }

  it("inner lengths that overrun the message are not TLS as soon as they arrive", () => {
    const base = minimal([[0, sniData([[0, "ok.example"]])]]);
    assert.deepEqual(parseClientHello(base), { kind: "name", name: "ok.example" });
    const at = { sid: 5 + 4 + 2 + 32, cs: 5 + 4 + 2 + 32 + 1, ext: 5 + 4 + 2 + 32 + 1 + 4 + 2 };
    const patch = (i: number, v: number[]) => {
      const b = base.slice();
      b.set(v, i);
      return b;
    };
    // A session id of 33, seen before the rest arrives.
    assert.deepEqual(parseClientHello(patch(at.sid, [33]).subarray(0, at.sid + 1)), {
      kind: "not_tls",
    });
    // Cipher suites longer than the message, odd, or empty.
    for (const v of [[0x10, 0], [0, 3], [0, 0]]) {
      assert.deepEqual(parseClientHello(patch(at.cs, v).subarray(0, at.cs + 2)), {
        kind: "not_tls",
      });
    }
    // The same, when the message continues in a record still to come (regression: the answer
    // used to be need_more until that record's header arrived, then not_tls).
    const longer = patch(at.cs, [0x10, 0]);
    longer.set([0, 0x03, 0xe8], 6); // handshake length 1000: the record holds only part of it
    assert.deepEqual(parseClientHello(longer), { kind: "not_tls" });
    // The same in a first record of 50 bytes, with 2 bytes of the next record's header
    // (regression: a partial header answered need_more before the records before were read).
    const split = frame(handshakeBytes(patch(at.sid, [33])), [50]);
    assert.deepEqual(parseClientHello(split.subarray(0, 55)), { kind: "not_tls" });
    assert.deepEqual(parseClientHello(split.subarray(0, 57)), { kind: "not_tls" });
    // A message that ends one byte into the extensions length (regression: need_more forever).
    const cut = base.slice();
    cut.set([0, 0, 42], 6);
    assert.deepEqual(parseClientHello(cut), { kind: "not_tls" });
    // An extensions block whose length is not the rest of the message.
    const ext = base[at.ext]! * 256 + base[at.ext + 1]!;
    for (const n of [ext - 1, ext + 1]) {
      assert.deepEqual(parseClientHello(patch(at.ext, u16(n))), { kind: "not_tls" });
    }
  });
});

const KINDS = new Set(["name", "no_sni", "not_tls", "need_more"]);

/** Checks one input fed in pieces: a valid kind each time, a final answer that never changes. */
function checkFeeding(b: Uint8Array, cuts: readonly number[]): void {
  const t0 = performance.now();
  const whole = parseClientHello(b);
  assert.ok(KINDS.has(whole.kind));
  let answeredAt = -1;
  for (const end of [...cuts].sort((x, y) => x - y)) {
    const r = parseClientHello(b.subarray(0, end));
    assert.ok(KINDS.has(r.kind), r.kind);
    if (r.kind === "need_more") {
      assert.ok(r.atLeast > end, `need_more at ${end} with atLeast ${r.atLeast}`);
      assert.equal(answeredAt, -1, `need_more at ${end} after an answer at ${answeredAt}`);
    } else {
      // Once an answer is known, more bytes never change it.
      assert.deepEqual(whole, r, `prefix ${end}`);
      if (answeredAt < 0) answeredAt = end;
    }
  }
  if (whole.kind === "need_more") assert.ok(whole.atLeast > b.length);
  // Linear work: generous enough for a loaded machine, far below what a loop would take.
  assert.ok(performance.now() - t0 < 5000, "parsing took more than 5 s");
}

describe("parseClientHello properties", () => {
  it("random bytes in random splits: a valid answer, never a throw", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.array(fc.nat(3000), { maxLength: 20 }),
        (b, cuts) => checkFeeding(b, cuts.map((c) => c % (b.length + 1))),
      ),
      { numRuns: 500 },
    );
  });

  it("random bytes behind a plausible record and handshake header", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16384 }),
        fc.integer({ min: 0, max: 4000 }),
        fc.uint8Array({ maxLength: 4000 }),
        fc.array(fc.nat(4100), { maxLength: 10 }),
        (rec, hsLen, tail, cuts) => {
          const b = concatBytes([
            new Uint8Array([0x16, 3, 1, ...u16(rec), 1, 0, ...u16(hsLen), 3, 3]),
            tail,
          ]);
          checkFeeding(b, cuts.map((c) => c % (b.length + 1)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("captured ClientHellos with random bytes changed: a valid answer, never a throw", () => {
    const names = Object.keys(ALL);
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (name, flips, cuts) => {
          const b = ALL[name]!.slice();
          for (const [i, v] of flips) b[i % b.length] = v;
          checkFeeding(b, cuts.map((c) => c % (b.length + 1)));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("captured handshakes changed, then framed in small records: answers never change", () => {
    const names = Object.keys(ALL);
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (name, flips, sizes, cuts) => {
          const hs = handshakeBytes(ALL[name]!).slice();
          for (const [i, v] of flips) hs[i % hs.length] = v;
          const b = frame(hs, sizes);
          // Every record boundary and the byte after it, where a header is partial.
          const bounds: number[] = [];
          for (let at = 0; at < b.length; at += 5 + ((b[at + 3]! << 8) | b[at + 4]!)) {
            if (bounds.length < 300) bounds.push(at, at + 1, at + 3);
          }
          checkFeeding(b, [...bounds, ...cuts].map((c) => c % (b.length + 1)));
        },
      ),
      { numRuns: 1500 },
    );
  });

  it("stays linear on a 16 KiB input of one-byte records", () => {
    // The most records a 16 KiB read can hold: the caller re-parses it on every chunk.
    const hs = handshakeBytes(ALL["large"]!);
    const b = frame(hs, [1]).subarray(0, 16384);
    const r = parseClientHello(b);
    assert.equal(r.kind, "need_more");
    assert.deepEqual(parseClientHello(frame(hs, [1])), FIXTURES["large"]);
  });
});
