// Proxy URLs: parsed once; a password never reaches a message, even when the URL does not parse.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatProxyUrl, parseProxyUrl } from "../../src/routing/proxy_url.ts";
import { validateServices } from "../../src/routing/service.ts";
import { redactUserinfo } from "../../src/text/redact.ts";
import { errorMessage } from "../../src/errors.ts";

/** [text, the secret part that must never show, the redacted text, whether it is a valid URL]. */
const TRICKY: [string, string, string, boolean?][] = [
  // a "/" in the password: the URL parser stops the userinfo early
  ["socks5://user:se/cret@127.0.0.1:1080", "se/cret", "socks5://user:***@127.0.0.1:1080"],
  ["socks5://user:se/cret@127.0.0.1:1080", "cret", "socks5://user:***@127.0.0.1:1080"],
  // an "@" in the password, and a port out of range
  ["socks5://user:p@At@host:99999", "p@At", "socks5://user:***@host:99999"],
  ["socks5://user:p@At@host:99999", "At@", "socks5://user:***@host:99999"],
  // the same without a scheme
  ["user:p@At@host:99999", "p@At", "user:***@host:99999"],
  // percent-encoded, and bad percent-encoding
  ["socks5://user:p%40ss%2Fw@10.0.0.1:1080", "p%40ss", "socks5://user:***@10.0.0.1:1080", true],
  ["socks5://user:zz%zzpw@10.0.0.1:1080", "zz%zzpw", "socks5://user:***@10.0.0.1:1080"],
  // a missing host and port, a bad port, a non-numeric port
  ["socks5://user:hunter2@", "hunter2", "socks5://user:***@"],
  ["socks5://user:hunter2@10.0.0.1:", "hunter2", "socks5://user:***@10.0.0.1:", true],
  ["socks5://user:hunter2@10.0.0.1:port", "hunter2", "socks5://user:***@10.0.0.1:port"],
  // characters a parser reads as the end of the userinfo: "?", "#", ":" and a space
  ["socks5://user:a?b#c:d e@10.0.0.1:1080", "a?b#c:d e", "socks5://user:***@10.0.0.1:1080"],
  // an unsupported scheme, a path after the host with an "@" in it
  ["http://user:hunter2@127.0.0.1:3128", "hunter2", "http://user:***@127.0.0.1:3128"],
  ["socks5://user:pw/x@h/y@10.0.0.1:1080", "pw/x@h/y", "socks5://user:***@10.0.0.1:1080"],
  // an empty user name
  ["socks5://:hunter2@10.0.0.1", "hunter2", "socks5://:***@10.0.0.1", true],
];

describe("redactUserinfo()", () => {
  for (const [text, secret, want] of TRICKY) {
    it(`hides "${secret}" in ${JSON.stringify(text)}`, () => {
      const got = redactUserinfo(text);
      assert.equal(got, want);
      assert.equal(got.includes(secret), false);
    });
  }

  it("leaves a text without a password alone", () => {
    for (
      const text of [
        "socks5://10.0.0.1:1080",
        "socks5h://user@proxy.internal",
        "127.0.0.1:8500",
        "http://[::1]:8500/v1",
        "",
      ]
    ) {
      assert.equal(redactUserinfo(text), text);
    }
  });
});

describe("parseProxyUrl()", () => {
  for (const [text, secret, , valid] of TRICKY) {
    if (valid) {
      it(`keeps "${secret}" of ${JSON.stringify(text)} and shows it nowhere`, () => {
        const p = parseProxyUrl(text);
        assert.ok(p.password, text);
        assert.equal(formatProxyUrl(p).includes(secret), false);
        assert.equal(formatProxyUrl(p).includes(p.password), false);
      });
      continue;
    }
    it(`never shows "${secret}" when ${JSON.stringify(text)} is refused`, () => {
      let message = "";
      assert.throws(() => parseProxyUrl(text), (err) => {
        message = errorMessage(err);
        return true;
      });
      assert.match(message, /^Cannot (use|parse) proxy/);
      assert.equal(message.includes(secret), false, message);
      assert.match(message, /\*\*\*/);
    });
  }

  it("parses user and password, percent-decoded, and shows neither password form", () => {
    const p = parseProxyUrl("socks5h://us%40er:p%40ss@[::1]:1081");
    assert.deepEqual(p, {
      scheme: "socks5h",
      host: "::1",
      port: 1081,
      username: "us@er",
      password: "p@ss",
    });
    assert.equal(formatProxyUrl(p), "socks5h://us%40er:***@[::1]:1081");
    assert.equal(parseProxyUrl("socks5://10.0.0.1").port, 1080);
  });

  it("a service with such a proxy is dropped with a problem that holds no secret", () => {
    for (const [text, secret, , valid] of TRICKY) {
      if (valid) continue;
      const d = validateServices(
        [{ name: "s", listener: "any:2000", backends: ["10.0.0.1:80"], proxy: text }],
        "r.toml",
      );
      assert.equal(d.services.length, 0, text);
      assert.equal(d.problems.length, 1, text);
      assert.equal(JSON.stringify(d.problems).includes(secret), false, JSON.stringify(d.problems));
    }
  });
});
