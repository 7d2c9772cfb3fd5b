// tcpffee's README, walked against a running engine: server groups across ports with
// `portmap = "IP"` (backends without a port), the stick table and its expiry, drain vs disable.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createEngine, type Engine } from "../../src/proxy/engine.ts";
import { configureLogging, createLogger } from "../../src/log.ts";
import { createStickTable } from "../../src/balancer/stick_table.ts";
import { validateServices } from "../../src/routing/service.ts";
import { buildTable } from "../../src/routing/table.ts";
import type { Conn, Listener, Runtime } from "../../src/runtime/types.ts";
import type { RoutingTable } from "../../src/routing/types.ts";
import {
  bytes,
  freePort,
  readAll,
  runtime,
  startNamedServer,
  startServer,
  tempDir,
  type TestServer,
} from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";
import { SETTINGS } from "../_support/plans.ts";
import { formatPeek } from "../../src/admin/peek.ts";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type App, startApp } from "../../src/cli/app.ts";
import { DEFAULT_CONFIG } from "../../src/config/resolve.ts";
import type { Config } from "../../src/config/types.ts";

let rt: Runtime;
const cleanups: (() => void | Promise<void>)[] = [];

before(async () => {
  rt = await runtime();
  configureLogging({ level: "warn", format: "json", write: () => {} });
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function engine(o: { now?: () => number } = {}): Engine {
  const e = createEngine({
    rt,
    log: createLogger("test"),
    drainTimeoutMs: 500,
    bindRetryMs: 200,
    accessLog: false,
    ...(o.now ? { stickTable: createStickTable({ now: o.now }) } : {}),
  });
  cleanups.push(() => e.shutdown());
  return e;
}

const CFG = {
  allowed: { front: "127.0.0.9", local: "127.0.0.1" },
  portMin: 1,
  portMax: 65535,
  defaults: SETTINGS,
};

/** The table of one routing document, as the file provider would deliver it. */
function route(services: Record<string, unknown>[]): RoutingTable {
  const d = validateServices(services, "routing.toml");
  assert.deepEqual(d.problems, []);
  const built = buildTable([{ provider: "file", services: d.services }], CFG);
  assert.deepEqual(built.problems, []);
  return built.table;
}

/** Sends `id` as the first message and returns what the backend answers (its name). */
async function ask(host: string, port: number, id: string): Promise<string> {
  const c = await rt.connect({ host, port, timeoutMs: 3000 });
  try {
    await c.write(bytes(id));
    await c.closeWrite();
    return await readAll(c);
  } finally {
    c.close();
  }
}

/** A named server on host:port (a fixed port: tcpffee's hosts serve every port). */
function named(host: string, port: number, name: string): Listener {
  const l = rt.listen({ host, port }, (c: Conn) => {
    void (async () => {
      try {
        await c.write(bytes(name));
        await c.closeWrite();
        while ((await c.read({ signal: AbortSignal.timeout(5000) })) !== null) { /* drain */ }
      } catch { /* the client went away */ }
      c.close();
    })();
  });
  cleanups.push(() => l.close());
  return l;
}

/** A port free on 127.0.0.1..3 and 127.0.0.9, with a named server on each of the three hosts. */
async function groupPort(): Promise<number> {
  for (let tries = 0; tries < 20; tries++) {
    const port = await freePort(rt);
    const bound: Listener[] = [];
    try {
      for (const h of [1, 2, 3]) bound.push(named(`127.0.0.${h}`, port, `h${h}`));
      return port;
    } catch {
      for (const l of bound) l.close();
    }
  }
  throw new Error("no port free on 127.0.0.1-3");
}

const ids = Array.from({ length: 12 }, (_, i) => `client${String(i).padStart(2, "0")}`);

describe("tcpffee: server groups across ports", () => {
  it('sends each of 12 clients to the same host on both ports (portmap = "IP")', {
    timeout: 30_000,
  }, async () => {
    const [p1, p2] = [await groupPort(), await groupPort()];
    const e = engine();
    e.apply(route([{
      name: "app",
      listeners: [`front:${p1}`, `front:${p2}`],
      // No port: each backend takes the port of the listener the client connected to.
      backends: ["127.0.0.1", "127.0.0.2", "127.0.0.3"],
      balance: "hash",
      hash_key: "first_bytes:0-8",
    }]));
    await waitFor(() => e.listeners().every((l) => l.state === "listening"));
    const hosts = new Set<string>();
    for (const id of ids) {
      const a = await ask("127.0.0.9", p1, id);
      const b = await ask("127.0.0.9", p2, id);
      assert.equal(a, b, `${id} landed on ${a} on port ${p1} and ${b} on port ${p2}`);
      hosts.add(a);
    }
    assert.ok(hosts.size >= 2, `12 clients spread over ${[...hosts].join(",")}`);
  });
});

interface Pool {
  servers: Map<string, TestServer>;
  backend(name: string, o?: Record<string, unknown>): Record<string, unknown>;
}

/** Named servers h1..hN on 127.0.0.1..N (port 0): distinct hosts, so distinct groups. */
function pool(n: number): Pool {
  const servers = new Map<string, TestServer>();
  for (let i = 1; i <= n; i++) {
    const s = startNamedServer(rt, `h${i}`, `127.0.0.${i}`);
    servers.set(`h${i}`, s);
    cleanups.push(() => s.close());
  }
  return {
    servers,
    backend: (name, o = {}) => ({
      address: `127.0.0.${name.slice(1)}:${servers.get(name)!.port}`,
      ...o,
    }),
  };
}

async function landings(port: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const id of ids) out.set(id, await ask("127.0.0.1", port, id));
  return out;
}

describe("tcpffee: the stick table", () => {
  it("keeps clients off a backend that joins, until their keys expire", {
    timeout: 30_000,
  }, async () => {
    let now = 1_000_000;
    const e = engine({ now: () => now });
    const p = pool(3);
    const port = await freePort(rt);
    const svc = (backends: unknown[]) => ({
      name: "app",
      listener: `local:${port}`,
      backends,
      balance: "hash",
      hash_key: "first_bytes:0-8",
      stick: { expiration: "10s" },
    });
    e.apply(route([svc([p.backend("h1"), p.backend("h2")])]));
    await waitFor(() => e.listeners()[0]?.state === "listening");
    const first = await landings(port);
    assert.equal(e.stickEntries!().length, ids.length);

    e.apply(route([svc([p.backend("h1"), p.backend("h2"), p.backend("h3")])]));
    now += 9_000; // idle less than the expiration
    assert.deepEqual(await landings(port), first, "stuck clients stay where they were");

    now += 10_001; // every key idle past its expiration
    const later = await landings(port);
    const moved = [...later.values()].filter((h) => h === "h3").length;
    assert.ok(moved > 0, "after expiry the consistent hash gives h3 its share");
    assert.ok(later.size === ids.length);
  });

  it("a drained backend keeps its stuck clients, a disabled one loses them", {
    timeout: 30_000,
  }, async () => {
    const e = engine();
    const p = pool(2);
    const port = await freePort(rt);
    const svc = (h1: Record<string, unknown>) => ({
      name: "app",
      listener: `local:${port}`,
      backends: [p.backend("h1", h1), p.backend("h2")],
      balance: "hash",
      hash_key: "first_bytes:0-8",
      stick: { expiration: "1m" },
    });
    e.apply(route([svc({})]));
    await waitFor(() => e.listeners()[0]?.state === "listening");
    const first = await landings(port);
    const onH1 = ids.filter((id) => first.get(id) === "h1");
    const onH2 = ids.filter((id) => first.get(id) === "h2");
    assert.ok(onH1.length > 0 && onH2.length > 0, "both backends have clients");

    // Drain (the admin API's verb): stuck clients stay, no new client comes.
    const key = `127.0.0.1:${port}`;
    assert.equal(e.setDrain(key, p.backend("h1").address as string, true), true);
    for (const id of onH1) assert.equal(await ask("127.0.0.1", port, id), "h1", id);
    for (let i = 0; i < 8; i++) assert.equal(await ask("127.0.0.1", port, `newcl${i}00`), "h2");
    e.setDrain(key, p.backend("h1").address as string, false);

    // Drain in routing: the same.
    e.apply(route([svc({ drain: true })]));
    for (const id of onH1) assert.equal(await ask("127.0.0.1", port, id), "h1", id);

    // Disabled: no connection at all, stuck clients go elsewhere (and are stuck there now).
    e.apply(route([svc({ disabled: true })]));
    for (const id of ids) assert.equal(await ask("127.0.0.1", port, id), "h2", id);
    const view = e.listeners()[0]!.backends.find((b) => b.address.startsWith("127.0.0.1:"));
    assert.equal(view?.disabled, true);
    assert.match(formatPeek(e.listeners()), /127\.0\.0\.1:\d+ .*disabled/);
    assert.equal(
      e.stickEntries!().filter((s) => s.backend === "127.0.0.1").length,
      0,
      "no key is stuck to the disabled backend",
    );
    // Enabled again: they stay where they were moved (stuck to h2).
    e.apply(route([svc({})]));
    for (const id of onH1) assert.equal(await ask("127.0.0.1", port, id), "h2", id);
    assert.equal(e.unstick!("app"), ids.length + 8);
    for (const id of onH1) assert.equal(await ask("127.0.0.1", port, id), "h1", id);
  });
});

/** Answers "GET/POST /health" with `status()`; any other client gets `name`. */
function healthServer(name: string, host: string, status: () => number): TestServer {
  const s = startServer(rt, async (c: Conn) => {
    const first = await c.read({ signal: AbortSignal.timeout(3000) }).catch(() => null);
    const text = first ? new TextDecoder().decode(first) : "";
    if (/^(GET|POST) \/health/.test(text)) {
      await c.write(bytes(`HTTP/1.1 ${status()} X\r\ncontent-length: 0\r\n\r\n`));
    } else await c.write(bytes(name));
    await c.closeWrite().catch(() => {});
    c.close();
  }, host);
  cleanups.push(() => s.close());
  return s;
}

describe("tcpffee: two checks with different fall actions", () => {
  it("a failing disable check takes the backend out; a failing drain check keeps stuck clients", {
    timeout: 30_000,
  }, async () => {
    let h1Status = 200;
    const h1 = healthServer("h1", "127.0.0.1", () => h1Status);
    const h2 = healthServer("h2", "127.0.0.2", () => 200);
    const e = engine();
    const port = await freePort(rt);
    const svc = (actions: [string, string]) => ({
      name: "app",
      listener: `local:${port}`,
      backends: [`127.0.0.1:${h1.port}`, `127.0.0.2:${h2.port}`],
      balance: "hash",
      hash_key: "first_bytes:0-8",
      stick: { expiration: "1m" },
      health: [
        { type: "tcp", interval: "50ms", timeout: "2s", rise: 1, fall: 1, fall_action: actions[0] },
        {
          type: "http",
          path: "/health",
          method: "POST",
          body: "Hello, World!",
          interval: "50ms",
          // Not half the interval (25ms): a loaded machine would flap the healthy backend.
          timeout: "2s",
          rise: 1,
          fall: 1,
          fall_action: actions[1],
        },
      ],
    });
    e.apply(route([svc(["drain", "drain"])]));
    const h1View = () =>
      e.listeners()[0]?.backends.find((b) => b.address === `127.0.0.1:${h1.port}`);
    await waitFor(() => h1View()?.health === "up", { what: "h1 up" });
    const first = await landings(port);
    const onH1 = ids.filter((id) => first.get(id) === "h1");
    assert.ok(onH1.length > 0);

    // The http check fails with fall_action = "drain": down, but its stuck clients stay.
    h1Status = 503;
    await waitFor(() => h1View()?.health === "down", { what: "h1 down" });
    assert.notEqual(h1View()?.disabled, true);
    for (const id of onH1) assert.equal(await ask("127.0.0.1", port, id), "h1", id);
    for (let i = 0; i < 6; i++) assert.equal(await ask("127.0.0.1", port, `fresh${i}00`), "h2");

    // The same failing check with fall_action = "disable": no connection at all.
    e.apply(route([svc(["drain", "disable"])]));
    await waitFor(() => h1View()?.disabled === true, { what: "h1 disabled" });
    for (const id of onH1) assert.equal(await ask("127.0.0.1", port, id), "h2", id);

    // "ignore": the failing check changes nothing.
    e.apply(route([svc(["drain", "ignore"])]));
    await waitFor(() => h1View()?.health === "up" && h1View()?.disabled !== true, {
      what: "h1 up with the check ignored",
    });
    e.unstick!("app");
    const again = await landings(port);
    assert.deepEqual(again, first, "the hash sends every client where it first went");
  });
});

describe("tcpffee: the state file across a restart", () => {
  it("restores stuck clients and keeps a backend that was down out until it passes", {
    timeout: 40_000,
  }, async () => {
    const dir = await tempDir("sluice-state-");
    cleanups.push(() => dir.remove());
    const stateFile = join(dir.path, "state", "sluice.json");
    let h1Status = 200;
    const h1 = healthServer("h1", "127.0.0.1", () => h1Status);
    const h2 = healthServer("h2", "127.0.0.2", () => 200);
    const port = await freePort(rt);
    const spec = (interval: string) =>
      validateServices([{
        name: "app",
        listener: `local:${port}`,
        backends: [`127.0.0.1:${h1.port}`, `127.0.0.2:${h2.port}`],
        balance: "hash",
        hash_key: "first_bytes:0-8",
        stick: { expiration: "1m" },
        health: { type: "http", path: "/health", interval, timeout: "2s", rise: 3, fall: 1 },
      }], "routing.toml").services;
    const config: Config = {
      ...DEFAULT_CONFIG,
      listeners: { ...DEFAULT_CONFIG.listeners, portMin: 1, portMax: 65535, drainTimeoutMs: 500 },
      admin: { listener: "", token: "" },
      peek: { listener: "" },
      log: { level: "warn", format: "json", access: false },
      runtime: { ...DEFAULT_CONFIG.runtime, stateFile, stateIntervalMs: 100 },
    };
    const h1View = (app: App) =>
      app.engine.listeners()[0]?.backends.find((b) => b.address === `127.0.0.1:${h1.port}`);

    const first = await startApp({ rt, config, forwards: spec("50ms"), control: false });
    let landed: Map<string, string>;
    try {
      await waitFor(() => h1View(first)?.health === "up", { what: "h1 up" });
      landed = await landings(port);
      h1Status = 503;
      await waitFor(() => h1View(first)?.health === "down", { what: "h1 down" });
    } finally {
      await first.stop();
    }
    const saved = JSON.parse(await readFile(stateFile, "utf8"));
    assert.equal(saved.version, 1);
    assert.equal(saved.stick.length, ids.length);
    assert.ok(saved.health.some((h: { state: string }) => h.state === "down"));

    // The old listener's port is free only once connects are refused (Deno frees it a turn late).
    await waitFor(async () => {
      try {
        (await rt.connect({ host: "127.0.0.1", port, timeoutMs: 500 })).close();
        return false;
      } catch (err) {
        return (err as { code?: string }).code === "ECONNREFUSED";
      }
    }, { what: "the first sluice's listener closed" });

    // h1 answers again, but the restarted sluice has not checked it yet (the first check of a
    // 1h interval falls anywhere in the hour): it was down, so it stays down until `rise` passes.
    h1Status = 200;
    const second = await startApp({ rt, config, forwards: spec("1h"), control: false });
    try {
      await waitFor(() => second.engine.listeners()[0]?.state === "listening");
      assert.equal(h1View(second)?.health, "down");
      // Stuck clients are where they were (h1's are kept: it is drained by its check, not
      // disabled); a new client goes to h2 only.
      assert.deepEqual(await landings(port), landed);
      for (let i = 0; i < 8; i++) assert.equal(await ask("127.0.0.1", port, `after${i}00`), "h2");
    } finally {
      await second.stop();
    }
  });
});
