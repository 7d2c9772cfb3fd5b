// host:port parsing: IPv4, bracketed IPv6, host names; every malformed form is refused.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  bracketHost,
  checkHostPort,
  formatHostPort,
  isLoopbackHost,
  parseHostPort,
} from "../../src/net/host_port.ts";
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

describe("checkHostPort() for listen addresses", () => {
  it("allows port 0 only when asked", () => {
    assert.deepEqual(checkHostPort("127.0.0.1:0", { allowPortZero: true }), {
      host: "127.0.0.1",
      port: 0,
    });
    assert.match(checkHostPort("127.0.0.1:0") as string, /from 1 to 65535/);
    assert.deepEqual(checkHostPort("[::1]:0", { allowPortZero: true }), { host: "::1", port: 0 });
  });
  it("returns a reason instead of throwing", () => {
    assert.match(checkHostPort("::1:80", { allowPortZero: true }) as string, /brackets/);
  });
  it("throws with the code asked for", () => {
    assert.throws(
      () => parseHostPort("x", { code: "CONFIG" }),
      (e: unknown) => e instanceof SluiceError && e.code === "CONFIG",
    );
  });
});

describe("bracketHost() and isLoopbackHost()", () => {
  it("brackets IPv6 literals only", () => {
    assert.equal(bracketHost("::1"), "[::1]");
    assert.equal(bracketHost("10.0.0.1"), "10.0.0.1");
    assert.equal(bracketHost("db"), "db");
  });
  it("knows 127.0.0.0/8, ::1 and localhost only", () => {
    for (const h of ["127.0.0.1", "127.9.9.9", "::1", "LOCALHOST", "::ffff:127.0.0.1"]) {
      assert.equal(isLoopbackHost(h), true, h);
    }
    for (const h of ["0.0.0.0", "::", "10.0.0.1", "127.example.com"]) {
      assert.equal(isLoopbackHost(h), false, h);
    }
  });
});
