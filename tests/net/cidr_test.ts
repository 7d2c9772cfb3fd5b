// trusted_proxies matching: IPv4, IPv6, IPv4-mapped, edges of prefixes, bad input.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { checkCidr, createCidrMatcher } from "../../src/net/cidr.ts";
import { SluiceError } from "../../src/errors.ts";

describe("createCidrMatcher", () => {
  const table: [string[], string, boolean][] = [
    [["10.0.0.0/8"], "10.0.0.0", true],
    [["10.0.0.0/8"], "10.255.255.255", true],
    [["10.0.0.0/8"], "11.0.0.0", false],
    [["10.0.0.0/8"], "9.255.255.255", false],
    [["192.168.1.0/25"], "192.168.1.127", true],
    [["192.168.1.0/25"], "192.168.1.128", false],
    [["172.16.0.0/12"], "172.31.1.1", true],
    [["172.16.0.0/12"], "172.32.0.1", false],
    [["127.0.0.1"], "127.0.0.1", true],
    [["127.0.0.1"], "127.0.0.2", false],
    [["127.0.0.1/32"], "127.0.0.1", true],
    [["0.0.0.0/0"], "203.0.113.5", true],
    [["0.0.0.0/0"], "::1", false],
    [["10.0.0.1/8"], "10.9.9.9", true],
    [["::1/128"], "::1", true],
    [["::1/128"], "::2", false],
    [["::1"], "0:0:0:0:0:0:0:1", true],
    [["2001:db8::/32"], "2001:db8:ffff::1", true],
    [["2001:db8::/32"], "2001:db9::1", false],
    [["2001:db8::/33"], "2001:db8:7fff::1", true],
    [["2001:db8::/33"], "2001:db8:8000::1", false],
    [["::/0"], "2001:db8::1", true],
    [["::/0"], "127.0.0.1", true],
    [["fe80::/10"], "fe80::1%eth0", true],
    [["fe80::/10"], "[fe80::1]", true],
    // IPv4-mapped clients match IPv4 CIDRs and the reverse.
    [["10.0.0.0/8"], "::ffff:10.1.2.3", true],
    [["10.0.0.0/8"], "::ffff:a01:203", true],
    [["10.0.0.0/8"], "::ffff:11.1.2.3", false],
    [["::ffff:0:0/96"], "198.51.100.7", true],
    [["::ffff:10.0.0.0/104"], "10.200.0.1", true],
    // Several CIDRs: any of them.
    [["10.0.0.0/8", "::1/128", "192.0.2.0/24"], "192.0.2.44", true],
    [["10.0.0.0/8", "::1/128", "192.0.2.0/24"], "::1", true],
    [["10.0.0.0/8", "::1/128", "192.0.2.0/24"], "198.51.100.1", false],
    // Nothing trusted; nonsense never matches.
    [[], "127.0.0.1", false],
    [["0.0.0.0/0", "::/0"], "not-an-ip", false],
    [["0.0.0.0/0"], "", false],
    [["0.0.0.0/0"], "010.0.0.1", false],
  ];
  for (const [cidrs, ip, want] of table) {
    it(`${JSON.stringify(cidrs)} ${want ? "matches" : "does not match"} ${ip || '""'}`, () => {
      assert.equal(createCidrMatcher(cidrs)(ip), want);
    });
  }

  const bad: [string, RegExp][] = [
    ["10.0.0.0/33", /prefix length from 0 to 32/],
    ["::/129", /prefix length from 0 to 128/],
    ["10.0.0.0/-1", /prefix length/],
    ["10.0.0.0/8/8", /expected a CIDR/],
    ["10.0.0/8", /expected a CIDR/],
    ["example.com/8", /expected a CIDR/],
    ["", /expected a CIDR/],
    ["10.0.0.0/", /prefix length/],
    ["1.2.3.4/ 8", /prefix length/],
  ];
  for (const [text, re] of bad) {
    it(`refuses ${JSON.stringify(text)} with a ROUTING error naming it`, () => {
      assert.throws(() => createCidrMatcher(["127.0.0.0/8", text]), (e: unknown) => {
        assert.ok(e instanceof SluiceError);
        assert.equal(e.code, "ROUTING");
        assert.match(e.message, re);
        assert.ok(e.message.includes(`"${text}"`));
        return true;
      });
    });
  }
});

describe("checkCidr()", () => {
  it("normalises a bare address to a single-host prefix", () => {
    assert.equal((checkCidr("10.0.0.1") as { cidr: string }).cidr, "10.0.0.1/32");
    assert.equal((checkCidr(" ::1 ") as { cidr: string }).cidr, "::1/128");
    assert.equal((checkCidr("10.0.0.0/8") as { cidr: string }).cidr, "10.0.0.0/8");
  });
  it("returns the reason for an invalid CIDR (the rule routing documents use too)", () => {
    assert.match(checkCidr("10.0.0.0/33") as string, /prefix length from 0 to 32/);
    assert.match(checkCidr("example.com") as string, /expected a CIDR/);
  });
});
