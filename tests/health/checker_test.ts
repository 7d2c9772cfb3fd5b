// Active health checks against real loopback servers: an HTTP server that starts answering
// 500 (down after `fall`, up after `rise`), request shape, timeouts, tcp against a listener
// that closes, stop(), jitter; and nginx when it is installed.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import {
  checkRequest,
  createHealthChecker,
  firstDelay,
  nextDelay,
  parseStatusLine,
} from "../../src/health/checker.ts";
import { createSocks5Dialer } from "../../src/socks5/dialer.ts";
import { socksBinary, startMicrosocks } from "../_support/socks_servers.ts";
import type { HealthSpec } from "../../src/routing/types.ts";
import type { HttpHandle, Listener, Runtime } from "../../src/runtime/types.ts";
import { freePort, runtime, tempDir } from "../_support/helpers.ts";
import { seeded } from "../balancer/_fixtures.ts";
import { delay, waitFor } from "../_support/wait.ts";

let rt: Runtime;
const cleanups: (() => void | Promise<void>)[] = [];

before(async () => {
  rt = await runtime();
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function spec(o: Partial<HealthSpec> = {}): HealthSpec {
  return {
    type: "http",
    intervalMs: 40,
    timeoutMs: 1000,
    rise: 2,
    fall: 3,
    path: "/health",
    method: "GET",
    status: 200,
    headers: {},
    body: "",
    ...o,
  };
}

/** An HTTP server answering `status.now` and recording every status it served. */
async function statusServer(): Promise<
  { http: HttpHandle; status: { now: number }; served: number[] }
> {
  const status = { now: 200 };
  const served: number[] = [];
  const http = await rt.serveHttp({ host: "127.0.0.1", port: 0 }, () => {
    served.push(status.now);
    return new Response(status.now === 200 ? "ok" : "bad", { status: status.now });
  });
  cleanups.push(() => http.close({ force: true }));
  return { http, status, served };
}

function events() {
  const list: { healthy: boolean; reason: string }[] = [];
  return {
    list,
    onChange: (healthy: boolean, reason: string) => void list.push({ healthy, reason }),
  };
}

describe("health checker (http)", () => {
  it(
    "goes down after `fall` failed checks and back up after `rise` good ones",
    { timeout: 20_000 },
    async () => {
      const s = await statusServer();
      const ev = events();
      let servedAtChange = -1;
      const c = createHealthChecker({
        rt,
        spec: spec({ rise: 2, fall: 3 }),
        target: { host: "127.0.0.1", port: s.http.port },
        onChange: (h, r) => {
          servedAtChange = s.served.length;
          ev.onChange(h, r);
        },
      });
      cleanups.push(() => c.stop());
      assert.equal(c.healthy, undefined);

      await waitFor(() => ev.list.length === 1, { timeoutMs: 5000, what: "first result" });
      assert.deepEqual(ev.list[0], { healthy: true, reason: "ok" });
      assert.equal(c.healthy, true);

      const before500 = s.served.length;
      s.status.now = 500;
      await waitFor(() => ev.list.length === 2, { timeoutMs: 5000, what: "down" });
      assert.equal(ev.list[1]!.healthy, false);
      assert.match(ev.list[1]!.reason, /GET \/health answered 500, expected 200/);
      // Exactly `fall` answers of 500 were needed (one check in flight may have seen the switch).
      const fails = s.served.slice(before500, servedAtChange).filter((x) => x === 500).length;
      assert.equal(fails, 3);
      assert.equal(c.healthy, false);

      const before200 = s.served.length;
      s.status.now = 200;
      await waitFor(() => ev.list.length === 3, { timeoutMs: 5000, what: "up again" });
      assert.deepEqual(ev.list[2], { healthy: true, reason: "ok" });
      assert.equal(s.served.slice(before200, servedAtChange).filter((x) => x === 200).length, 2);
    },
  );

  it("alternating failures and successes never flap the state", { timeout: 20_000 }, async () => {
    let n = 0;
    const served: number[] = [];
    const http = await rt.serveHttp({ host: "127.0.0.1", port: 0 }, () => {
      // 200 for the first answer, then 500, 200, 500, ...: never `fall` failures in a row.
      const status = n++ % 2 === 0 ? 200 : 500;
      served.push(status);
      return new Response(null, { status });
    });
    cleanups.push(() => http.close({ force: true }));
    const ev = events();
    const c = createHealthChecker({
      rt,
      spec: spec({ fall: 2, rise: 2 }),
      target: { host: "127.0.0.1", port: http.port },
      onChange: ev.onChange,
    });
    cleanups.push(() => c.stop());
    await waitFor(() => served.length >= 12, { timeoutMs: 5000, what: "twelve checks" });
    c.stop();
    assert.ok(served.includes(500));
    assert.deepEqual(ev.list, [{ healthy: true, reason: "ok" }]);
    assert.equal(c.healthy, true);
  });

  it("sends the configured method, path, headers and body, and expects the configured status", {
    timeout: 10_000,
  }, async () => {
    const seen: string[] = [];
    const http = await rt.serveHttp({ host: "127.0.0.1", port: 0 }, async (r) => {
      const u = new URL(r.url);
      seen.push(
        `${r.method} ${u.pathname}${u.search} ${r.headers.get("x-check")} ${await r.text()}`,
      );
      const good = r.method === "POST" && u.pathname === "/ready" && u.search === "?deep=1" &&
        r.headers.get("x-check") === "sluice";
      return new Response(null, { status: good ? 204 : 418 });
    });
    cleanups.push(() => http.close({ force: true }));
    const ev = events();
    const c = createHealthChecker({
      rt,
      spec: spec({
        method: "POST",
        path: "/ready?deep=1",
        headers: { "X-Check": "sluice" },
        body: "ping",
        status: 204,
      }),
      target: { host: "127.0.0.1", port: http.port },
      onChange: ev.onChange,
    });
    cleanups.push(() => c.stop());
    await waitFor(() => ev.list.length === 1, { timeoutMs: 5000, what: "first result" });
    assert.deepEqual(ev.list[0], { healthy: true, reason: "ok" });
    assert.equal(seen[0], "POST /ready?deep=1 sluice ping");
  });

  it("counts a response slower than the timeout as a failure", { timeout: 10_000 }, async () => {
    const http = await rt.serveHttp({ host: "127.0.0.1", port: 0 }, async () => {
      await delay(800);
      return new Response("late");
    });
    cleanups.push(() => http.close({ force: true }));
    const ev = events();
    const c = createHealthChecker({
      rt,
      spec: spec({ timeoutMs: 100 }),
      target: { host: "127.0.0.1", port: http.port },
      onChange: ev.onChange,
    });
    cleanups.push(() => c.stop());
    await waitFor(() => ev.list.length === 1, { timeoutMs: 5000, what: "first result" });
    assert.equal(ev.list[0]!.healthy, false);
    assert.match(ev.list[0]!.reason, /timed out after 100ms/);
  });

  it("reports a refused connection as down", { timeout: 10_000 }, async () => {
    const l = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => c.close());
    const port = l.addr.port;
    l.close();
    await delay(50);
    const ev = events();
    const c = createHealthChecker({
      rt,
      spec: spec(),
      target: { host: "127.0.0.1", port },
      onChange: ev.onChange,
    });
    cleanups.push(() => c.stop());
    await waitFor(() => ev.list.length === 1, { timeoutMs: 5000, what: "first result" });
    assert.equal(ev.list[0]!.healthy, false);
    assert.match(ev.list[0]!.reason, /failed/);
  });

  it("writes a well-formed HTTP/1.1 request", () => {
    const text = new TextDecoder().decode(checkRequest(
      spec({ method: "POST", path: "ready", headers: { "X-A": "1" }, body: "héllo" }),
      { host: "::1", port: 8080 },
    ));
    assert.equal(
      text,
      "POST /ready HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: sluice-health-check\r\nX-A: 1\r\n" +
        "Connection: close\r\nContent-Length: 6\r\n\r\nhéllo",
    );
    const own = new TextDecoder().decode(
      checkRequest(spec({ headers: { host: "api.example" } }), { host: "10.0.0.1", port: 80 }),
    );
    assert.ok(
      own.startsWith(
        "GET /health HTTP/1.1\r\nUser-Agent: sluice-health-check\r\nhost: api.example\r\n",
      ),
      own,
    );
  });

  it("reads the status from the status line, waits for a whole line, refuses non-HTTP", () => {
    const b = (s: string) => new TextEncoder().encode(s);
    assert.equal(parseStatusLine(b("HTTP/1.1 204 No Content\r\n")), 204);
    assert.equal(parseStatusLine(b("HTTP/1.0 500\r\n")), 500);
    assert.equal(parseStatusLine(b("HTTP/1.1 200 O")), undefined);
    assert.throws(() => parseStatusLine(b("SSH-2.0-OpenSSH\r\n")), /not an HTTP status line/);
    assert.throws(() => parseStatusLine(b("x".repeat(2000))), /no HTTP status line/);
  });
});

const microsocks = socksBinary("microsocks");

describe("health checker through a SOCKS5 proxy", {
  skip: microsocks ? false : "microsocks is not installed",
}, () => {
  it("checks the backend the way traffic reaches it", { timeout: 20_000 }, async () => {
    const proxy = await startMicrosocks(rt);
    cleanups.push(() => proxy.stop());
    const s = await statusServer();
    const dialer = createSocks5Dialer({
      rt,
      proxy: { scheme: "socks5", host: "127.0.0.1", port: proxy.port },
    });
    const ev = events();
    const c = createHealthChecker({
      rt,
      dialer,
      spec: spec({ fall: 1 }),
      target: { host: "127.0.0.1", port: s.http.port },
      onChange: ev.onChange,
    });
    cleanups.push(() => c.stop());
    await waitFor(() => ev.list.length === 1, { timeoutMs: 5000, what: "first result" });
    assert.deepEqual(ev.list[0], { healthy: true, reason: "ok" });
    s.status.now = 503;
    await waitFor(() => ev.list.length === 2, { timeoutMs: 5000, what: "down" });
    assert.match(ev.list[1]!.reason, /answered 503/);
    // The checks came through the proxy, not from this process directly.
    await proxy.stop();
    await waitFor(() => c.lastReason.includes("failed"), {
      timeoutMs: 5000,
      what: "a failure once the proxy is gone",
    });
  });
});

describe("health checker (tcp)", () => {
  it(
    "is up while the port accepts, down after `fall` refusals once it closes, up again after `rise`",
    { timeout: 20_000 },
    async () => {
      let accepted = 0;
      const onConn = (c: { close(): void }) => {
        accepted++;
        c.close();
      };
      let l: Listener = rt.listen({ host: "127.0.0.1", port: 0 }, onConn);
      const port = l.addr.port;
      cleanups.push(() => l.close());
      const ev = events();
      const c = createHealthChecker({
        rt,
        spec: spec({ type: "tcp", fall: 2, rise: 2 }),
        target: { host: "127.0.0.1", port },
        onChange: ev.onChange,
      });
      cleanups.push(() => c.stop());
      await waitFor(() => ev.list.length === 1, { timeoutMs: 5000, what: "first result" });
      assert.deepEqual(ev.list[0], { healthy: true, reason: "ok" });
      assert.ok(accepted >= 1);

      l.close();
      await waitFor(() => ev.list.length === 2, { timeoutMs: 5000, what: "down" });
      assert.equal(ev.list[1]!.healthy, false);
      assert.match(ev.list[1]!.reason, /tcp connect failed: ECONNREFUSED/);

      // Bind the same port again (a closed listener may take a moment to free it).
      l = await waitFor(() => {
        try {
          return rt.listen({ host: "127.0.0.1", port }, onConn);
        } catch {
          return undefined;
        }
      }, { timeoutMs: 5000, what: "rebinding the port" });
      await waitFor(() => ev.list.length === 3, { timeoutMs: 5000, what: "up again" });
      assert.deepEqual(ev.list[2], { healthy: true, reason: "ok" });
    },
  );

  it("stop() ends the checks: no more connects, no more changes", { timeout: 10_000 }, async () => {
    let accepted = 0;
    const l = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => {
      accepted++;
      c.close();
    });
    cleanups.push(() => l.close());
    const ev = events();
    const c = createHealthChecker({
      rt,
      spec: spec({ type: "tcp", intervalMs: 20 }),
      target: { host: "127.0.0.1", port: l.addr.port },
      onChange: ev.onChange,
    });
    await waitFor(() => accepted >= 3, { timeoutMs: 5000, what: "three checks" });
    c.stop();
    await delay(30);
    const n = accepted;
    await delay(150);
    assert.equal(accepted, n);
    assert.equal(ev.list.length, 1);
  });
});

describe("health check jitter", () => {
  it("places first checks across the whole interval and later ones within ±10%", () => {
    const r = seeded(5);
    const firsts = Array.from({ length: 1000 }, () => firstDelay(5000, r));
    assert.ok(Math.min(...firsts) >= 0 && Math.max(...firsts) < 5000);
    // Spread out: every tenth of the interval gets some first checks.
    const buckets = new Set(firsts.map((d) => Math.floor(d / 500)));
    assert.equal(buckets.size, 10);
    const nexts = Array.from({ length: 1000 }, () => nextDelay(5000, r));
    assert.ok(Math.min(...nexts) >= 4500 && Math.max(...nexts) <= 5500);
    assert.ok(new Set(nexts.map((d) => Math.round(d))).size > 100, "later checks do not vary");
  });
});

const nginx = existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : undefined;

describe("health checker against nginx", { skip: nginx ? false : "nginx is not installed" }, () => {
  it("follows nginx switching /health between 200 and 500", { timeout: 30_000 }, async () => {
    const dir = await tempDir("sluice-nginx-");
    cleanups.push(() => dir.remove());
    const port = await freePort(rt);
    const downFlag = join(dir.path, "down");
    const conf = `
worker_processes 1;
master_process off;
daemon off;
pid ${dir.path}/nginx.pid;
error_log ${dir.path}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir.path}/body;
  proxy_temp_path ${dir.path}/proxy;
  fastcgi_temp_path ${dir.path}/fastcgi;
  uwsgi_temp_path ${dir.path}/uwsgi;
  scgi_temp_path ${dir.path}/scgi;
  server {
    listen 127.0.0.1:${port};
    location = /health {
      if (-f ${downFlag}) { return 500; }
      return 200 "ok\\n";
    }
  }
}
`;
    await writeFile(join(dir.path, "nginx.conf"), conf);
    const check = spawnSync(nginx!, ["-t", "-c", join(dir.path, "nginx.conf")], {
      encoding: "utf8",
    });
    assert.equal(check.status, 0, check.stderr);
    const child = spawn(nginx!, ["-c", join(dir.path, "nginx.conf")], { stdio: "ignore" });
    cleanups.push(() => {
      if (child.exitCode === null && child.pid) process.kill(child.pid, "SIGKILL");
    });
    await waitFor(async () => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/health`);
        await r.arrayBuffer();
        return r.status === 200;
      } catch {
        return false;
      }
    }, { timeoutMs: 10_000, what: "nginx to answer" });

    const ev = events();
    const c = createHealthChecker({
      rt,
      spec: spec({ intervalMs: 50 }),
      target: { host: "127.0.0.1", port },
      onChange: ev.onChange,
    });
    cleanups.push(() => c.stop());
    await waitFor(() => ev.list.length === 1, { timeoutMs: 5000, what: "first result" });
    assert.equal(ev.list[0]!.healthy, true);
    await writeFile(downFlag, "");
    await waitFor(() => ev.list.length === 2, { timeoutMs: 5000, what: "down" });
    assert.equal(ev.list[1]!.healthy, false);
    assert.match(ev.list[1]!.reason, /answered 500/);
    await rm(downFlag);
    await waitFor(() => ev.list.length === 3, { timeoutMs: 5000, what: "up" });
    assert.equal(ev.list[2]!.healthy, true);
    c.stop();
    if (child.pid) process.kill(child.pid, "SIGTERM");
    await waitFor(() => child.exitCode !== null || child.signalCode !== null, {
      timeoutMs: 5000,
      what: "nginx to exit",
    });
  });
});
