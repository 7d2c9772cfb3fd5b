// The engine with SOCKS5 backends through real microsocks servers: a wrong password, a proxy
// that is down and a backend refused behind the proxy each fail one attempt, are logged once
// with their reason (password redacted), and the next backend is tried.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createEngine, type Engine } from "../../src/proxy/engine.ts";
import { configureLogging, createLogger } from "../../src/log.ts";
import { parseProxyUrl } from "../../src/routing/proxy_url.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import { createSocks5Dialer } from "../../src/socks5/dialer.ts";
import {
  freePort,
  readAll,
  runtime,
  startNamedServer,
  type TestServer,
} from "../_support/helpers.ts";
import { backend, listener, table } from "../_support/plans.ts";
import {
  refusedPort,
  skipUnlessInstalled,
  type SocksServer,
  startMicrosocks,
} from "../_support/socks_servers.ts";
import { waitFor, within } from "../_support/wait.ts";

const PASSWORD = "fail0ver-Secret";

interface Line {
  msg: string;
  listener?: string;
  backend?: string;
  via?: string;
  route?: string;
  error?: string;
  reason?: string;
  attempt?: number;
}

describe(
  "engine failover through SOCKS5 proxies",
  { skip: skipUnlessInstalled("microsocks") },
  () => {
    let rt: Runtime;
    let open: SocksServer;
    let authed: SocksServer;
    let named: TestServer;
    let engine: Engine;
    const raw: string[] = [];

    before(async () => {
      rt = await runtime();
      configureLogging({ level: "info", format: "json", write: (l) => raw.push(l) });
      open = await startMicrosocks(rt);
      authed = await startMicrosocks(rt, { username: "alice", password: PASSWORD });
      named = startNamedServer(rt, "reached");
      engine = createEngine({
        rt,
        log: createLogger("test"),
        drainTimeoutMs: 500,
        bindRetryMs: 200,
        proxyDialer: (proxy) => createSocks5Dialer({ rt, proxy }),
      });
    });
    after(async () => {
      await engine?.shutdown();
      named?.close();
      await open?.stop();
      await authed?.stop();
    });

    /**
     * Reads what the backend says, without sending a FIN first: microsocks closes both ways on
     * the first FIN it sees, which could cut the banner.
     */
    async function banner(port: number): Promise<string> {
      const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 3000 });
      try {
        return await readAll(c, { timeoutMs: 8000 });
      } finally {
        c.close();
      }
    }

    function linesFor(key: string): Line[] {
      return raw.map((l) => JSON.parse(l) as Line).filter((l) => l.listener === key);
    }

    let n = 0;
    /** Plan fields for a backend behind `url`; keys stay unique when redacted URLs are equal. */
    function via(url: string, port: number) {
      const proxy = parseProxyUrl(url);
      const address = `127.0.0.1:${port}`;
      return { proxy, address, key: `#${++n} ${url.replace(/:[^:@/]*@/, ":***@")} ➤ ${address}` };
    }

    it("tries each failing SOCKS5 backend once, logs why, and reaches the working one", async () => {
      const down = await refusedPort(rt);
      const refusedBehind = await refusedPort(rt);
      const failing = [
        backend(
          named.port,
          via(`socks5://alice:wrong-${PASSWORD}@127.0.0.1:${authed.port}`, named.port),
        ),
        backend(named.port, via(`socks5://alice:${PASSWORD}@127.0.0.1:${down}`, named.port)),
        backend(refusedBehind, via(`socks5://127.0.0.1:${open.port}`, refusedBehind)),
      ];
      const working = backend(
        named.port,
        via(`socks5://alice:${PASSWORD}@127.0.0.1:${authed.port}`, named.port),
      );
      const port = await freePort(rt);
      const l = listener(port, [...failing, working], {
        connectAttempts: 4,
        connectTimeoutMs: 3000,
      });
      engine.apply(table(l));
      await waitFor(() => engine.listeners().find((v) => v.key === l.key)?.state === "listening", {
        what: "listener up",
      });

      // Round robin starts each connection one backend further: four connections meet every
      // failure in every position, and each still ends at the working backend.
      for (let i = 0; i < 4; i++) {
        assert.equal(
          await within(banner(port), 10_000, "banner through the proxy"),
          "reached",
        );
      }

      const view = engine.listeners().find((v) => v.key === l.key)!;
      const byKey = new Map(view.backends.map((b) => [b.key, b]));
      for (const b of failing) {
        assert.ok((byKey.get(b.key)?.counters.connectFailures ?? 0) >= 1, `${b.key} was tried`);
      }
      assert.equal(byKey.get(working.key)?.counters.total, 4);

      await waitFor(() => linesFor(l.key).filter((x) => x.msg === "connection").length === 4, {
        what: "four access log lines",
      });
      const lines = linesFor(l.key);
      const failures = lines.filter((x) => x.msg === "backend connect failed");
      // Each failing backend fails at most once per client connection, and each time it is logged once.
      assert.ok(failures.length >= 3 && failures.length <= 12, `${failures.length} failures`);
      const errorsOf = (needle: string) =>
        failures.filter((f) => f.via?.includes(needle)).map((f) => f.error ?? "");
      assert.ok(
        errorsOf(`:${authed.port}`).every((e) =>
          /^SOCKS5: .*rejected the username\/password/.test(e)
        ),
      );
      assert.ok(
        errorsOf(`:${down}`).every((e) => /^ECONNREFUSED: Cannot reach SOCKS5 proxy/.test(e)),
      );
      assert.ok(
        errorsOf(`:${open.port}`).every((e) => /connection refused \(reply 0x05\)/.test(e)),
      );
      for (const needle of [`:${authed.port}`, `:${down}`, `:${open.port}`]) {
        assert.ok(errorsOf(needle).length >= 1, `a logged failure for ${needle}`);
      }
      const access = lines.filter((x) => x.msg === "connection");
      assert.ok(access.every((a) => a.via === `socks5://alice:***@127.0.0.1:${authed.port}`));
      assert.ok(access.every((a) => a.backend === `127.0.0.1:${named.port}`));
      assert.ok(
        access.every((a) =>
          a.route === `socks5://alice:***@127.0.0.1:${authed.port} ─➤ 127.0.0.1:${named.port}`
        ),
      );
      for (const line of raw) {
        assert.ok(
          !line.includes(PASSWORD),
          `password in a log line: ${line}`,
        );
      }
      engine.apply(table());
    });

    it("closes the client promptly when every SOCKS5 backend fails", async () => {
      const down = await refusedPort(rt);
      const refusedBehind = await refusedPort(rt);
      const port = await freePort(rt);
      const l = listener(port, [
        backend(named.port, via(`socks5://alice:nope@127.0.0.1:${authed.port}`, named.port)),
        backend(named.port, via(`socks5://127.0.0.1:${down}`, named.port)),
        backend(refusedBehind, via(`socks5://127.0.0.1:${open.port}`, refusedBehind)),
      ], { connectAttempts: 3, connectTimeoutMs: 3000 });
      engine.apply(table(l));
      await waitFor(() => engine.listeners().find((v) => v.key === l.key)?.state === "listening", {
        what: "listener up",
      });
      // FIN or reset, but within bounds and with no data.
      const got = await within(banner(port).catch(() => ""), 5000, "client to be closed");
      assert.equal(got, "");
      await waitFor(() => linesFor(l.key).some((x) => x.msg === "connection"), {
        what: "access log line",
      });
      const lines = linesFor(l.key);
      assert.equal(lines.filter((x) => x.msg === "backend connect failed").length, 3);
      const access = lines.find((x) => x.msg === "connection");
      assert.equal(access?.reason, "no_backend");
      engine.apply(table());
    });
  },
);
