// Provider addresses: the one normalisation, used by config and the Consul/Nomad providers.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { checkProviderUrl, normaliseAddress } from "../../src/net/url.ts";
import { SluiceError } from "../../src/errors.ts";

describe("checkProviderUrl()", () => {
  const good: [string, string][] = [
    ["127.0.0.1:8500", "http://127.0.0.1:8500"],
    ["http://127.0.0.1:4646/", "http://127.0.0.1:4646"],
    ["https://consul.example:8501/prefix//", "https://consul.example:8501/prefix"],
    ["[::1]:8500", "http://[::1]:8500"],
    ["  http://h:1  ", "http://h:1"],
  ];
  for (const [text, want] of good) {
    it(`normalises ${JSON.stringify(text)}`, () =>
      assert.deepEqual(checkProviderUrl(text), { url: want }));
  }
  const bad: [unknown, RegExp][] = [
    ["", /missing/],
    [undefined, /missing/],
    ["ftp://h:1", /http:\/\/ or https:\/\//],
    ["http://h:1/?token=x", /without query/],
    ["http://u:p@h:1", /credentials/],
  ];
  for (const [text, re] of bad) {
    it(`refuses ${JSON.stringify(text)} with a reason`, () => {
      const r = checkProviderUrl(text);
      assert.equal(typeof r, "string");
      assert.match(r as string, re);
    });
  }
});

describe("normaliseAddress()", () => {
  it("throws a CONFIG SluiceError in the key-path form", () => {
    assert.throws(() => normaliseAddress("ftp://h", "routing.consul.address"), (e: unknown) => {
      assert.ok(e instanceof SluiceError);
      assert.equal(e.code, "CONFIG");
      assert.match(e.message, /^routing\.consul\.address: expected an http/);
      return true;
    });
  });
  it("returns the normalised URL", () => {
    assert.equal(normaliseAddress("10.0.0.1:8500", "x"), "http://10.0.0.1:8500");
  });
});
