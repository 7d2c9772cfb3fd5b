// Issue 12, bug 9 and the shutdown item: admin and peek bind like proxy listeners (a busy port
// is retried every bind_retry; a reload to a busy port keeps the old endpoint and says so), and
// /healthz answers 503 "draining" while the shutdown drain runs, with /metrics still up.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createRebinder } from "../../src/admin/rebind.ts";
import { startPeek } from "../../src/admin/peek.ts";
import { startApp } from "../../src/cli/app.ts";
import { DEFAULT_CONFIG } from "../../src/config/resolve.ts";
import type { Config } from "../../src/config/types.ts";
import { parseListenAddress } from "../../src/config/exposure.ts";
import { forwardServices, parseForward } from "../../src/cli/forward.ts";
import { configureLogging, createLogger } from "../../src/log.ts";
import type { Listener, Runtime } from "../../src/runtime/types.ts";
import { bytes, canConnect, fetchBanner, runtime, startEchoServer } from "../_support/helpers.ts";
import { waitFor, within } from "../_support/wait.ts";

const lines: string[] = [];
let rt: Runtime;

before(async () => {
  rt = await runtime();
  configureLogging({ level: "info", format: "json", write: (l) => lines.push(l) });
});

function logged(msg: string): Record<string, unknown>[] {
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
}

/** A port held by another socket until `release()`. */
function holdPort(): { port: number; release(): void } {
  const l: Listener = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => c.close());
  let open = true;
  return {
    port: l.addr.port,
    release: () => {
      if (open) l.close();
      open = false;
    },
  };
}

function config(o: { admin?: string; peek?: string; drainMs?: number } = {}): Config {
  return {
    ...DEFAULT_CONFIG,
    listeners: {
      ...DEFAULT_CONFIG.listeners,
      portMin: 1,
      portMax: 65535,
      bindRetryMs: 100,
      drainTimeoutMs: o.drainMs ?? 30_000,
    },
    // As the loader gives them: the listen addresses parsed once, beside the text.
    admin: {
      listener: o.admin ?? "",
      token: "",
      ...(o.admin ? { address: listenAt(o.admin) } : {}),
    },
    peek: { listener: o.peek ?? "", ...(o.peek ? { address: listenAt(o.peek) } : {}) },
    log: { level: "info", format: "json", access: false },
  };
}

function listenAt(text: string) {
  const a = parseListenAddress(text);
  if (!a) throw new Error(`bad listen address ${text}`);
  return a;
}

async function get(port: number, path: string): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, text: await r.text() };
}

describe("control endpoints bind like proxy listeners", () => {
  it("peek on a busy port is retried and comes up once the port is free", async () => {
    const held = holdPort();
    const address = `127.0.0.1:${held.port}`;
    const r = createRebinder({ name: "peek", log: createLogger("peek"), retryMs: () => 100 });
    try {
      const ok = await r.set({
        key: address,
        address,
        start: () => {
          const l = startPeek({
            rt,
            address: { host: "127.0.0.1", port: held.port },
            view: () => [],
            log: createLogger("peek"),
          });
          return { port: l.addr.port, close: () => l.close() };
        },
      });
      assert.equal(ok, false);
      assert.equal(r.port, undefined);
      assert.equal(r.failing, address);
      const failed = logged("peek listener bind failed").at(-1)!;
      assert.equal(failed.address, address);
      assert.match(String(failed.error), /EADDRINUSE/);
      held.release();
      await waitFor(() => r.port === held.port, { what: "peek bound after retry" });
      assert.equal(await fetchBanner(rt, held.port), "no listeners\n");
      assert.equal(r.failing, undefined);
      assert.ok(logged("peek listener bound after retry").length >= 1);
    } finally {
      held.release();
      await r.close();
    }
  });

  it("admin busy at start comes up later; a reload to a busy port keeps the old one and says so", async () => {
    const first = holdPort();
    let next = config({ admin: `127.0.0.1:${first.port}` });
    const app = await startApp({ rt, config: next, reloadConfig: () => Promise.resolve(next) });
    const second = holdPort();
    try {
      assert.equal(app.adminPort, undefined, "not bound while the port is held");
      assert.ok(
        logged("admin listener bind failed").some((l) => l.address === `127.0.0.1:${first.port}`),
      );
      first.release();
      await waitFor(() => app.adminPort === first.port, { what: "admin bound after retry" });
      assert.equal((await get(first.port, "/healthz")).text, "ok\n");

      // Move it to a port that is taken: the old one serves on, the reload says it failed.
      next = config({ admin: `127.0.0.1:${second.port}` });
      const before = lines.length;
      await app.reload();
      const after = lines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.ok(!after.some((l) => l.msg === "configuration reloaded"));
      const partial = after.find((l) => String(l.msg).startsWith("configuration reloaded in part"));
      assert.ok(partial, "the reload is reported as partly failed");
      assert.match(String(partial.failed), new RegExp(`admin.listener 127.0.0.1:${second.port}`));
      assert.equal(app.adminPort, first.port);
      assert.equal((await get(first.port, "/healthz")).status, 200);

      // Once the new port is free the admin API moves there and the old port closes.
      second.release();
      await waitFor(() => app.adminPort === second.port, { what: "admin moved after retry" });
      assert.equal((await get(second.port, "/healthz")).status, 200);
      await waitFor(async () => !(await canConnect(rt, first.port)), {
        what: "the old admin port to close",
      });
    } finally {
      first.release();
      second.release();
      await within(app.stop(), 10_000, "app stop");
    }
  });

  it("/healthz answers 503 draining and /metrics stays up during the shutdown drain", async () => {
    const echo = startEchoServer(rt);
    const proxy = holdPort();
    proxy.release();
    await waitFor(async () => !(await canConnect(rt, proxy.port)), { what: "port free" });
    const cfg = config({ admin: "127.0.0.1:0", drainMs: 20_000 });
    const app = await startApp({
      rt,
      config: cfg,
      forwards: forwardServices([parseForward(`local:${proxy.port}:127.0.0.1:${echo.port}`)]),
    });
    let stopped: Promise<void> | undefined;
    const c = await waitFor(
      () => rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 2000 }),
      { what: "the forward to listen" },
    );
    try {
      const admin = app.adminPort!;
      await c.write(bytes("x"));
      assert.ok(await c.read({ signal: AbortSignal.timeout(5000) }));
      assert.deepEqual(await get(admin, "/healthz"), { status: 200, text: "ok\n" });
      stopped = app.stop();
      // The open connection holds the drain open: the admin API still answers.
      const h = await get(admin, "/healthz");
      assert.deepEqual(h, { status: 503, text: "draining\n" });
      const m = await get(admin, "/metrics");
      assert.equal(m.status, 200);
      assert.match(m.text, /sluice_listener_active_connections\{listener="[^"]+"\} 1/);
      c.close();
      await within(stopped!, 10_000, "shutdown after the last connection closed");
      assert.equal(await canConnect(rt, admin), false, "admin closed after the drain");
    } finally {
      c.close();
      await within(stopped ?? app.stop(), 10_000, "app stop").catch(() => {});
      echo.close();
    }
  });
});
