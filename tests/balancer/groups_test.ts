// Group identities (tcpffee's server groups): the hash ranks a pool by group, so a client lands
// on the same group on every listener of a multi-port service; disabled backends take nothing.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { hashIds } from "../../src/balancer/groups.ts";
import { createHash } from "../../src/balancer/hash.ts";
import { selectBackends } from "../../src/balancer/select.ts";
import { cand } from "./_fixtures.ts";

const enc = new TextEncoder();

describe("hashIds()", () => {
  it("is the host, or the group label when one is set", () => {
    assert.deepEqual(
      hashIds([
        { key: "10.0.0.1:80", host: "10.0.0.1", port: 80 },
        { key: "10.0.0.2:80", host: "10.0.0.2", port: 80, group: "b" },
      ]),
      ["10.0.0.1", "b"],
    );
  });

  it("gives backends sharing a group their own keys (one backend per group and listener)", () => {
    assert.deepEqual(
      hashIds([
        { key: "127.0.0.1:9002", host: "127.0.0.1", port: 9002 },
        { key: "127.0.0.1:9001", host: "127.0.0.1", port: 9001 },
        { key: "10.0.0.1:9000", host: "10.0.0.1", port: 9000 },
        { key: "10.0.0.2:9000", host: "10.0.0.2", port: 9000, group: "g" },
        { key: "10.0.0.3:9000", host: "10.0.0.3", port: 9000, group: "g" },
      ]),
      ["127.0.0.1:9002", "127.0.0.1:9001", "10.0.0.1", "10.0.0.2:9000", "10.0.0.3:9000"],
    );
  });

  it("keeps same-host clients in place when one of the host's backends goes", () => {
    const hash = createHash({ hashKey: { kind: "client_ip" } });
    const pool = (ports: number[]) => {
      const plans = ports.map((p) => ({ key: `127.0.0.1:${p}`, host: "127.0.0.1", port: p }));
      const ids = hashIds(plans);
      return plans.map((p, i) => ({ ...cand(p.key), hashId: ids[i] }));
    };
    const before = pool([1, 2, 3]);
    const after = pool([1, 3]);
    for (let i = 0; i < 50; i++) {
      const c = { ip: `10.2.0.${i}` };
      const was = hash.order(before, c)[0]!.key;
      if (was !== "127.0.0.1:2") assert.equal(hash.order(after, c)[0]!.key, was);
    }
  });
});

describe("hash over groups across ports", () => {
  it("sends each of 40 clients to the same host on both ports", () => {
    const hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];
    const pool = (port: number) => {
      const plans = hosts.map((h) => ({ key: `${h}:${port}`, host: h, port }));
      const ids = hashIds(plans);
      return plans.map((p, i) => ({ ...cand(p.key), hashId: ids[i], host: p.host }));
    };
    const a = pool(5280);
    const b = pool(5281);
    const hash = createHash({ hashKey: { kind: "first_bytes", start: 0, end: 8 } });
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const client = { ip: "127.0.0.1", keyBytes: enc.encode(`client${i}`) };
      const onA = hash.order(a, client)[0]!.host;
      const onB = hash.order(b, client)[0]!.host;
      assert.equal(onA, onB, `client${i}`);
      seen.add(onA);
    }
    assert.ok(seen.size >= 3, `clients spread over ${seen.size} hosts`);
  });

  it("pairs same-host backends on different ports through group labels", () => {
    const pool = (ports: number[]) => {
      const plans = ports.map((p, i) => ({
        key: `127.0.0.1:${p}`,
        host: "127.0.0.1",
        port: p,
        group: `g${i}`,
      }));
      const ids = hashIds(plans);
      return plans.map((p, i) => ({ ...cand(p.key), hashId: ids[i], group: p.group }));
    };
    const a = pool([9001, 9002, 9003]);
    const b = pool([7001, 7002, 7003]);
    const hash = createHash({ hashKey: { kind: "client_ip" } });
    for (let i = 0; i < 30; i++) {
      const client = { ip: `10.1.0.${i}` };
      assert.equal(hash.order(a, client)[0]!.group, hash.order(b, client)[0]!.group);
    }
  });
});

describe("client_ip+first_bytes", () => {
  it("keys on the IP and the slice: same slice, other IP may differ; same both, same pick", () => {
    const pool = Array.from({ length: 8 }, (_, i) => cand(`b${i}`));
    const hash = createHash({ hashKey: { kind: "client_ip+first_bytes", start: 0, end: 4 } });
    const slice = enc.encode("user");
    const picks = new Set<string>();
    for (let i = 0; i < 32; i++) {
      const c = { ip: `10.0.0.${i}`, keyBytes: slice };
      const first = hash.order(pool, c)[0]!.key;
      assert.equal(hash.order(pool, { ...c })[0]!.key, first);
      picks.add(first);
    }
    // The slice alone would send all 32 to one backend.
    assert.ok(picks.size > 1);
    const sliceOnly = createHash({ hashKey: { kind: "first_bytes", start: 0, end: 4 } });
    const one = new Set<string>();
    for (let i = 0; i < 8; i++) {
      one.add(sliceOnly.order(pool, { ip: `10.0.0.${i}`, keyBytes: slice })[0]!.key);
    }
    assert.equal(one.size, 1);
  });

  it("falls back to the IP when the client sent nothing", () => {
    const pool = Array.from({ length: 8 }, (_, i) => cand(`b${i}`));
    const a = createHash({ hashKey: { kind: "client_ip+first_bytes", start: 0, end: 4 } });
    const b = createHash({ hashKey: { kind: "client_ip" } });
    for (let i = 0; i < 16; i++) {
      const ip = `10.0.0.${i}`;
      assert.equal(
        a.order(pool, { ip, keyBytes: new Uint8Array(0) })[0]!.key,
        b.order(pool, { ip })[0]!.key,
      );
    }
  });
});

describe("selectBackends() and disabled backends", () => {
  const hash = createHash({ hashKey: { kind: "client_ip" } });
  it("never tries a disabled backend, not even failing open", () => {
    const r = selectBackends(
      [cand("a", { disabled: true }), cand("b", { healthy: false })],
      hash,
      { ip: "1.2.3.4" },
    );
    assert.deepEqual(r.order.map((c) => c.key), ["b"]);
    assert.equal(r.failOpen, true);
    const none = selectBackends([cand("a", { disabled: true })], hash, { ip: "1.2.3.4" });
    assert.deepEqual(none.order, []);
  });
});
