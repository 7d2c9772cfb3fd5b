// Engine features wired over real loopback sockets: active health checks steering traffic,
// first_bytes hashing with the bytes replayed intact, and DNS expansion of backend names.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createEngine, type Engine } from "../../src/proxy/engine.ts";
import { createResolver, type LookupResult } from "../../src/proxy/resolver.ts";
import { configureLogging, createLogger } from "../../src/log.ts";
import { formatPeek } from "../../src/admin/peek.ts";
import type { Conn, Runtime } from "../../src/runtime/types.ts";
import type { HealthSpec } from "../../src/routing/types.ts";
import {
  bytes,
  fetchBanner,
  freePort,
  readAll,
  runtime,
  startNamedServer,
  startServer,
  type TestServer,
} from "../_support/helpers.ts";
import { backend, listener, table } from "../_support/plans.ts";
import { waitFor } from "../_support/wait.ts";

const lines: string[] = [];
let rt: Runtime;
const dec = new TextDecoder();

before(async () => {
  rt = await runtime();
  configureLogging({ level: "info", format: "json", write: (l) => lines.push(l) });
});

function engine(o: { lookup?: (host: string) => Promise<LookupResult> } = {}): Engine {
  return createEngine({
    rt,
    log: createLogger("test"),
    drainTimeoutMs: 1000,
    bindRetryMs: 200,
    ...(o.lookup ? { resolver: createResolver({ lookup: o.lookup, minTtlMs: 50 }) } : {}),
  });
}

/**
 * Answers `GET /health` with `status()`; any other client (one that sends FIN first, as
 * fetchBanner does) gets `name`.
 */
function startHealthServer(name: string, status: () => number): TestServer {
  return startServer(rt, async (c: Conn) => {
    const first = await c.read({ signal: AbortSignal.timeout(3000) }).catch(() => null);
    if (first && dec.decode(first).startsWith("GET /health")) {
      const code = status();
      await c.write(bytes(`HTTP/1.1 ${code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`));
    } else await c.write(bytes(name));
    await c.closeWrite().catch(() => {});
    c.close();
  });
}

const HTTP_CHECK: HealthSpec = {
  type: "http",
  intervalMs: 100,
  timeoutMs: 1000,
  rise: 2,
  fall: 2,
  path: "/health",
  method: "GET",
  status: 200,
  headers: {},
  body: "",
};

async function banners(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await fetchBanner(rt, port));
  return out;
}

describe("engine: active health checks", () => {
  it("takes a backend answering 500 out after `fall` checks and back after `rise`", {
    timeout: 30_000,
  }, async () => {
    let bStatus = 200;
    const a = startHealthServer("a", () => 200);
    const b = startHealthServer("b", () => bStatus);
    const e = engine();
    const port = await freePort(rt);
    e.apply(table(listener(port, [backend(a.port), backend(b.port)], { health: HTTP_CHECK })));
    try {
      const health = (addr: number) =>
        e.listeners()[0]?.backends.find((x) => x.address === `127.0.0.1:${addr}`)?.health;
      await waitFor(() => health(a.port) === "up" && health(b.port) === "up", {
        timeoutMs: 5000,
        what: "both backends up",
      });
      assert.deepEqual(new Set(await banners(port, 4)), new Set(["a", "b"]));
      bStatus = 500;
      await waitFor(() => health(b.port) === "down", { timeoutMs: 5000, what: "b down" });
      assert.deepEqual(new Set(await banners(port, 6)), new Set(["a"]));
      assert.ok(lines.some((l) => l.includes("backend is down") && l.includes(String(b.port))));
      bStatus = 200;
      await waitFor(() => health(b.port) === "up", { timeoutMs: 5000, what: "b up again" });
      assert.deepEqual(new Set(await banners(port, 4)), new Set(["a", "b"]));
    } finally {
      await e.shutdown();
      a.close();
      b.close();
    }
  });

  it(
    "stops checking when the plan drops `health`, and on shutdown",
    { timeout: 20_000 },
    async () => {
      let checks = 0;
      const a = startHealthServer("a", () => (checks++, 200));
      const e = engine();
      const port = await freePort(rt);
      e.apply(table(listener(port, [backend(a.port)], { health: HTTP_CHECK })));
      try {
        await waitFor(() => checks >= 2, { timeoutMs: 5000, what: "checks to run" });
        e.apply(table(listener(port, [backend(a.port)])));
        const view = e.listeners()[0]!.backends[0]!;
        assert.equal(view.health, "unknown");
        const seen = checks;
        await new Promise((r) => setTimeout(r, 400));
        assert.ok(
          checks <= seen + 1,
          `checks went on after health was removed (${seen} -> ${checks})`,
        );
      } finally {
        await e.shutdown();
        a.close();
      }
    },
  );
});

describe("engine: first_bytes hashing", () => {
  it("sends equal key bytes to one backend and replays every byte unchanged", {
    timeout: 30_000,
  }, async () => {
    // Each backend answers with its name and everything it received.
    const servers = ["a", "b", "c"].map((name) =>
      startServer(rt, async (c) => {
        const got = await readAll(c);
        await c.write(bytes(`${name}|${got}`));
        await c.closeWrite().catch(() => {});
        c.close();
      })
    );
    const e = engine();
    const port = await freePort(rt);
    e.apply(table(listener(port, servers.map((s) => backend(s.port)), {
      balance: "hash",
      hashKey: { kind: "first_bytes", start: 0, end: 8 },
    })));
    const send = async (parts: string[]) => {
      const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
      try {
        for (const p of parts) {
          await c.write(bytes(p));
          await new Promise((r) => setTimeout(r, 10));
        }
        await c.closeWrite();
        const [name, echoed] = (await readAll(c)).split("|");
        return { name: name!, echoed: echoed! };
      } finally {
        c.close();
      }
    };
    try {
      const chosen = new Map<string, Set<string>>();
      for (let i = 0; i < 24; i++) {
        const key = `user-${String(i % 6).padStart(3, "0")}`; // 8 bytes
        // The key arrives split, and more follows it: all of it must reach the backend.
        const payload = `${key}:payload-${i}-` + "x".repeat(i * 100);
        const r = await send([key.slice(0, 3), key.slice(3) + payload.slice(8)]);
        assert.equal(r.echoed, payload);
        const set = chosen.get(key) ?? new Set<string>();
        set.add(r.name);
        chosen.set(key, set);
      }
      for (const [key, set] of chosen) assert.equal(set.size, 1, `${key} went to ${[...set]}`);
      const used = new Set([...chosen.values()].flatMap((s) => [...s]));
      assert.ok(used.size >= 2, `6 keys all went to one backend: ${[...used]}`);
      // A client that sends fewer bytes than the key and waits for an answer: chosen after the
      // wait, and the bytes read so far and everything after reach the backend.
      const short = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
      await short.write(bytes("abc"));
      await new Promise((r) => setTimeout(r, 1500)); // past the 1 s key wait
      await short.write(bytes("def"));
      await short.closeWrite();
      assert.match(await readAll(short, { timeoutMs: 5000 }), /^[abc]\|abcdef$/);
      short.close();
      // A client that sends nothing (server-speaks-first) still gets through after the wait.
      const silent = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
      await silent.closeWrite();
      assert.match(await readAll(silent, { timeoutMs: 5000 }), /^[abc]\|$/);
      silent.close();
    } finally {
      await e.shutdown();
      for (const s of servers) s.close();
    }
  });
});

/** A server on a given host and port (one port on two loopback addresses) that writes `name`. */
function nameServer(name: string, host: string, port = 0) {
  const l = rt.listen({ host, port }, (c) => {
    void c.write(bytes(name)).then(() => c.closeWrite()).catch(() => {}).finally(() => c.close());
  });
  return { port: l.addr.port, close: () => l.close() };
}

describe("engine: DNS expansion of backend names", () => {
  it("spreads over every address of a name, follows its changes, keeps them on failure", {
    timeout: 30_000,
  }, async () => {
    // 127.0.0.2 is loopback too on Linux: one port, two addresses, two servers.
    const two = nameServer("two", "127.0.0.2");
    const one = nameServer("one", "127.0.0.1", two.port);
    let answer: string[] | Error = ["127.0.0.1", "127.0.0.2"];
    let lookups = 0;
    const e = engine({
      lookup: (host) => {
        lookups++;
        assert.equal(host, "svc.test");
        return answer instanceof Error
          ? Promise.reject(answer)
          : Promise.resolve({ addresses: answer, ttlMs: 50 });
      },
    });
    const port = await freePort(rt);
    const name = `svc.test:${two.port}`;
    e.apply(
      table(listener(port, [backend(two.port, { key: name, address: name, host: "svc.test" })])),
    );
    const addresses = () => e.listeners()[0]!.backends.map((b) => b.address).sort();
    try {
      await waitFor(() => addresses().length === 2, { timeoutMs: 5000, what: "two addresses" });
      assert.deepEqual(addresses(), [`127.0.0.1:${two.port}`, `127.0.0.2:${two.port}`]);
      assert.deepEqual(new Set(await banners(port, 4)), new Set(["one", "two"]));
      // Drain by the name drains every address it expanded to.
      assert.equal(e.setDrain(`127.0.0.1:${port}`, name, true), true);
      assert.ok(e.listeners()[0]!.backends.every((b) => b.drain));
      assert.equal(e.setDrain(`127.0.0.1:${port}`, name, false), true);
      // The name now has one address: the pool follows.
      answer = ["127.0.0.2"];
      await waitFor(() => addresses().length === 1, { timeoutMs: 5000, what: "one address" });
      assert.deepEqual(new Set(await banners(port, 3)), new Set(["two"]));
      // Resolution fails: the last addresses stay.
      answer = new Error("SERVFAIL");
      const before = lookups;
      await waitFor(() => lookups >= before + 2, { timeoutMs: 5000, what: "failed lookups" });
      assert.deepEqual(addresses(), [`127.0.0.2:${two.port}`]);
      assert.deepEqual(new Set(await banners(port, 2)), new Set(["two"]));
    } finally {
      await e.shutdown();
      one.close();
      two.close();
    }
    // No refresh after shutdown.
    const after = lookups;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(lookups, after);
  });

  it("dials a name that has not resolved yet as it is", { timeout: 20_000 }, async () => {
    const one = startNamedServer(rt, "one");
    const e = engine({
      lookup: () => new Promise<LookupResult>(() => {}), // never answers
    });
    const port = await freePort(rt);
    const name = `localhost:${one.port}`;
    e.apply(
      table(listener(port, [backend(one.port, { key: name, address: name, host: "localhost" })])),
    );
    try {
      assert.deepEqual(e.listeners()[0]!.backends.map((b) => b.address), [name]);
      assert.equal(await fetchBanner(rt, port), "one");
    } finally {
      await e.shutdown();
      one.close();
    }
  });
});

describe("engine: passive ejection is visible", () => {
  it("logs an ejection once, and the view and peek show it", { timeout: 20_000 }, async () => {
    const refused = await freePort(rt); // nothing listens there
    const good = startNamedServer(rt, "good");
    const e = engine();
    const port = await freePort(rt);
    e.apply(table(listener(port, [backend(refused), backend(good.port)])));
    const from = lines.length;
    try {
      // Round robin sends every other connection to the refusing backend first: 3 failures
      // in a row eject it, and the connections it refused are served by the other.
      for (let i = 0; i < 6; i++) assert.equal(await fetchBanner(rt, port), "good");
      const view = e.listeners()[0]!.backends.find((b) => b.address === `127.0.0.1:${refused}`)!;
      assert.equal(view.ejected, true);
      const ejections = lines.slice(from).filter((l) => l.includes("backend ejected"));
      // One line per ejection (numbered 1, 2, ... if a slow machine let one expire), never one
      // per refused connect.
      assert.ok(ejections.length >= 1);
      ejections.forEach((l, i) => assert.equal(JSON.parse(l).ejections, i + 1, l));
      assert.match(ejections[0]!, new RegExp(`127\\.0\\.0\\.1:${refused}`));
      assert.match(
        formatPeek(e.listeners()),
        new RegExp(`127\\.0\\.0\\.1:${refused} \\[ejected\\]`),
      );
    } finally {
      await e.shutdown();
      good.close();
    }
  });
});
