// iaido's README, walked against sluice: its quickstart (`--bootstrap LOCAL:HOST:REMOTE`
// flags that write a config, then run it), tiered fail-over and fail-back, and the
// re-resolution of names that come without a TTL (/etc/hosts, headless services), here with
// an injected resolver.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { createEngine } from "../../src/proxy/engine.ts";
import { createResolver, type LookupResult } from "../../src/proxy/resolver.ts";
import { createLogger } from "../../src/log.ts";
import {
  bytes,
  canConnect,
  fetchBanner,
  freePort,
  runtime,
  spawnSluice,
  startNamedServer,
  tempDir,
} from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";
import { backend, listener, table } from "../_support/plans.ts";
import { startSluiceFixture } from "../e2e/_sluice_fixture.ts";

let rt: Runtime;
before(async () => {
  rt = await runtime();
});

/** Writes `name` to every client and closes; on `host` and `port` (0: any). */
function nameServer(name: string, host = "127.0.0.1", port = 0) {
  const l = rt.listen({ host, port }, (c) => {
    void c.write(bytes(name)).then(() => c.closeWrite()).catch(() => {}).finally(() => c.close());
  });
  return { port: l.addr.port, close: () => l.close() };
}

async function banners(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await fetchBanner(rt, port));
  return out;
}

describe("iaido: quickstart (bootstrap, then run)", () => {
  it("bootstrap writes a config whose listeners spread over the given backends", {
    timeout: 60_000,
  }, async () => {
    // iaido --bootstrap 26257:127.0.0.1:26258 (x3) --bootstrap 8080:127.0.0.1:8181, on free
    // ports; `sluice bootstrap --forward` takes the same LOCAL:HOST:REMOTE syntax.
    const servers = ["a", "b", "c", "web"].map((n) => startNamedServer(rt, n));
    const [db, web] = [await freePort(rt), await freePort(rt)];
    const dir = await tempDir("sluice-iaido-");
    try {
      const forwards = [
        ...servers.slice(0, 3).map((s) => `${db}:127.0.0.1:${s.port}`),
        `${web}:127.0.0.1:${servers[3]!.port}`,
      ];
      const boot = spawnSluice(rt, [
        "bootstrap",
        ...forwards.flatMap((f) => ["--forward", f]),
        "-o",
        dir.path,
      ]);
      assert.equal(await boot.exited(30_000), 0, boot.lines.join("\n"));
      assert.match(boot.lines.join("\n"), /wrote .*config\.toml and .*routing\.toml/);
      const routing = await readFile(join(dir.path, "routing.toml"), "utf8");
      assert.match(routing, new RegExp(`listener = "local:${db}"`));

      // `iaido -c iaido.yaml`: free ports may lie above the default port_max, and the admin
      // API's default port may be taken by another test: both set from the environment.
      const p = spawnSluice(rt, ["run", "-c", join(dir.path, "config.toml")], {
        cwd: dir.path,
        env: { SLUICE_LISTENERS_PORT_MAX: "65535", SLUICE_ADMIN_LISTENER: "" },
      });
      try {
        await p.waitForLine(new RegExp(`listener opened listener=127\\.0\\.0\\.1:${db}`), 20_000);
        await p.waitForLine(new RegExp(`listener opened listener=127\\.0\\.0\\.1:${web}`), 20_000);
        assert.deepEqual(new Set(await banners(db, 6)), new Set(["a", "b", "c"]));
        assert.deepEqual(await banners(web, 2), ["web", "web"]);
        // One start line per service, as tcpproxy and iaido print their listeners.
        assert.ok(p.lines.some((l) => / service provider=file name=\S+ listeners=local:/.test(l)));
      } finally {
        p.signal("SIGTERM");
        await p.exited(15_000).catch(() => p.kill());
      }
    } finally {
      for (const s of servers) s.close();
      await dir.remove();
    }
  });
});

describe("iaido: tiered fail-over and fail-back", () => {
  it("uses tier 0, fails over to tier 1 when it is down, fails back when it returns", {
    timeout: 90_000,
  }, async () => {
    let near = nameServer("near");
    const far = startNamedServer(rt, "far");
    const nearPort = near.port;
    const port = await freePort(rt);
    const fx = await startSluiceFixture({
      rt,
      routing: `[[services]]
name = "cockroach"
listener = "local:${port}"
backends = [
  { address = "127.0.0.1:${nearPort}", tier = 0 },
  { address = "127.0.0.1:${far.port}", tier = 1 },
]
connect_timeout = "1s"
`,
    });
    try {
      await fx.waitListening([`127.0.0.1:${port}`]);
      assert.deepEqual(await banners(port, 3), ["near", "near", "near"]);
      near.close();
      await waitFor(async () => !(await canConnect(rt, nearPort)), { what: "near to refuse" });
      assert.deepEqual(await banners(port, 3), ["far", "far", "far"]);
      near = await waitFor(() => nameServer("near", "127.0.0.1", nearPort), {
        what: "near back on its port",
      });
      // Passive ejection's back-off (1 s, doubling) bounds how soon tier 0 is tried again.
      await waitFor(async () => (await fetchBanner(rt, port)) === "near", {
        timeoutMs: 40_000,
        intervalMs: 200,
        what: "fail-back to tier 0",
      });
    } finally {
      await fx.stop();
      near.close();
      far.close();
    }
  });
});

describe("iaido: names without a TTL are re-resolved", () => {
  it("follows a changed /etc/hosts-style answer at dns.refresh_without_ttl", {
    timeout: 30_000,
  }, async () => {
    // One port on two loopback addresses: which one answers tells which address was dialled.
    const one = nameServer("one", "127.0.0.1");
    const two = nameServer("two", "127.0.0.2", one.port);
    let answer = ["127.0.0.1"];
    let lookups = 0;
    const lookup = (): Promise<LookupResult> => {
      lookups++;
      return Promise.resolve({ addresses: answer }); // no ttlMs: getaddrinfo, /etc/hosts
    };
    const e = createEngine({
      rt,
      log: createLogger("test"),
      drainTimeoutMs: 500,
      bindRetryMs: 200,
      resolver: createResolver({ lookup, minTtlMs: 50, noTtlMs: 200 }),
    });
    const port = await freePort(rt);
    const name = `db.internal:${one.port}`;
    e.apply(
      table(listener(port, [backend(one.port, { key: name, address: name, host: "db.internal" })])),
    );
    try {
      await waitFor(() => e.listeners()[0]?.backends[0]?.address === `127.0.0.1:${one.port}`, {
        what: "the first resolution",
      });
      assert.equal(await fetchBanner(rt, port), "one");
      const before = lookups;
      answer = ["127.0.0.2"];
      await waitFor(() => e.listeners()[0]?.backends[0]?.address === `127.0.0.2:${one.port}`, {
        timeoutMs: 10_000,
        what: "the re-resolution without TTL",
      });
      assert.ok(lookups > before);
      assert.equal(await fetchBanner(rt, port), "two");
    } finally {
      await e.shutdown();
      one.close();
      two.close();
    }
  });
});
