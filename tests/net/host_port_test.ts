// host:port parsing: IPv4, bracketed IPv6, host names; every malformed form is refused.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatHostPort, parseHostPort } from "../../src/net/host_port.ts";
import { SluiceError } from "../../src/errors.ts";

describe("parseHostPort()", () => {
  const good: [string, string, number][] = [
    ["10.0.0.1:5432", "10.0.0.1", 5432],
    ["[2001:db8::7]:80", "2001:db8::7", 80],
    ["[::1]:1", "::1", 1],
    ["db.internal:65535", "db.internal", 65535],
    ["localhost:8080", "localhost", 8080],
    ["_svc.consul:53", "_svc.consul", 53],
  ];
  for (const [text, host, port] of good) {
    it(`parses "${text}"`, () => assert.deepEqual(parseHostPort(text), { host, port }));
  }
  const bad: [string, RegExp][] = [
    ["10.0.0.1", /missing port/],
    ["10.0.0.1:0", /port "0"/],
    ["10.0.0.1:65536", /port "65536"/],
    ["10.0.0.1:http", /port "http"/],
    ["2001:db8::7:80", /needs brackets/],
    ["[2001:db8::7:80", /missing "]"/],
    ["[2001:db8::7]80", /expected ":PORT"/],
    ["[10.0.0.1]:80", /not an IPv6 address/],
    [":80", /missing host/],
    ["bad host:80", /not a valid IP address or host name/],
    ["", /empty/],
  ];
  for (const [text, re] of bad) {
    it(`refuses "${text}" with a reason`, () => {
      assert.throws(() => parseHostPort(text), (e: unknown) => {
        assert.ok(e instanceof SluiceError);
        assert.equal(e.code, "ROUTING");
        assert.match(e.message, re);
        return true;
      });
    });
  }
});

describe("formatHostPort()", () => {
  it("brackets IPv6 hosts only", () => {
    assert.equal(formatHostPort("::", 5432), "[::]:5432");
    assert.equal(formatHostPort("127.0.0.1", 5432), "127.0.0.1:5432");
    assert.equal(formatHostPort("db", 1), "db:1");
  });
  it("round-trips with parseHostPort", () => {
    for (const s of ["[fe80::1]:9", "1.2.3.4:5", "a.b:6"]) {
      const { host, port } = parseHostPort(s);
      assert.equal(formatHostPort(host, port), s);
    }
  });
});
