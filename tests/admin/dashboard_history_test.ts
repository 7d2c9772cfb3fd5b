// The dashboard's charts in headless Chromium over the real engine: traffic sent through sluice
// shows in the header chart and the listener's sparklines and charts with the values
// /api/v1/history answers (read from the page's uPlot instances, not from pixels), and a backend
// taken down appears on its health timeline. Screenshots land in tests/artifacts/.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Engine } from "../../src/proxy/engine.ts";
import { History, type HistoryBody } from "../../src/admin/history_schemas.ts";
import { BACKEND_STATES } from "../../src/admin/history/types.ts";
import { configureLogging, logSink } from "../../src/log.ts";
import type { HttpHandle, Runtime } from "../../src/runtime/types.ts";
import {
  bytes,
  freePort,
  readAll,
  runtime,
  startEchoServer,
  type TestServer,
} from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";
import { backend, listener, table } from "../_support/plans.ts";
import { ARTIFACTS, type Browser, launchChromium, type Page, skip } from "./_chromium.ts";
import { startEngineAdmin } from "./_admin_server.ts";

/** What the page's uPlot instances hold (browser code, typed loosely: no DOM library here). */
interface Drawn {
  header: (number | null)[][];
  rate: (number | null)[][] | null;
  detail: { keys: string[]; conn: (number | null)[][]; health: (number | null)[][] } | null;
}

function drawn(page: Page, addr: string): Promise<Drawn> {
  return page.evaluate((a) => {
    const ch = (globalThis as unknown as {
      __sluiceCharts: {
        header: { data: (number | null)[][] } | null;
        rows: Map<string, { rate: { data: (number | null)[][] } }>;
        details: Map<string, {
          keys: string[];
          conn: { data: (number | null)[][] };
          health: { data: (number | null)[][] };
        }>;
      };
    }).__sluiceCharts;
    const copy = (d: (number | null)[][]) => d.map((s) => Array.from(s));
    const d = ch.details.get(a);
    return {
      header: ch.header ? copy(ch.header.data) : [],
      rate: ch.rows.get(a) ? copy(ch.rows.get(a)!.rate.data) : null,
      detail: d ? { keys: d.keys, conn: copy(d.conn.data), health: copy(d.health.data) } : null,
    };
  }, addr);
}

/** Every second both hold must carry the same value. Returns how many seconds were compared. */
function sameValues(
  what: string,
  t: readonly number[],
  values: readonly (number | null)[],
  body: HistoryBody,
  apiValues: readonly (number | null)[],
): number {
  const api = new Map(body.t.map((x, i) => [x, apiValues[i]]));
  let n = 0;
  t.forEach((x, i) => {
    if (!api.has(x)) return;
    n++;
    assert.equal(values[i], api.get(x), `${what} at ${x}`);
  });
  return n;
}

describe("dashboard charts over the real engine", { skip, timeout: 180_000 }, () => {
  let rt: Runtime;
  let engine: Engine;
  let admin: HttpHandle;
  let browser: Browser;
  let a: TestServer;
  let b: TestServer;
  let port = 0;
  let traffic: ReturnType<typeof setInterval> | undefined;
  const stderrWrite = logSink.write;
  const key = () => `127.0.0.1:${port}`;

  before(async () => {
    rt = await runtime();
    configureLogging({ level: "error", format: "json", write: () => {} });
    ({ engine, admin } = await startEngineAdmin(rt));
    a = startEchoServer(rt);
    b = startEchoServer(rt);
    port = await freePort(rt);
    const health = {
      type: "tcp" as const,
      intervalMs: 200,
      // Tolerant of a loaded machine; a closed port is refused at once, twice in 400 ms.
      timeoutMs: 3000,
      rise: 1,
      fall: 2,
      path: "/",
      method: "GET",
      status: 200,
      headers: {},
      body: "",
    };
    engine.apply(table(listener(port, [backend(a.port), backend(b.port)], { health })));
    await waitFor(() => engine.listeners().find((l) => l.key === key())?.state === "listening", {
      what: "the listener to open",
    });
    // Steady traffic through sluice: a few echoed connections every 300 ms.
    let busy = false;
    traffic = setInterval(() => {
      if (busy) return;
      busy = true;
      void (async () => {
        for (let i = 0; i < 3; i++) {
          const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
          await c.write(bytes("x".repeat(2000 + i)));
          await c.closeWrite();
          await readAll(c);
          c.close();
        }
      })().catch(() => {}).finally(() => busy = false);
    }, 300);
    browser = await launchChromium();
  });

  after(async () => {
    clearInterval(traffic);
    await browser?.close();
    await engine?.shutdown();
    await admin?.close({ force: true });
    a?.close();
    b?.close();
    configureLogging({ write: stderrWrite });
  });

  const history = async (q: string): Promise<HistoryBody> => {
    const r = await fetch(`http://127.0.0.1:${admin.port}/api/v1/history${q}`, {
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(r.status, 200);
    return History.parse(await r.json());
  };

  it("draws what /api/v1/history answers, and a backend taken down on its timeline", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    try {
      await page.goto(`http://127.0.0.1:${admin.port}/`, { timeout: 15_000 });
      const row = page.locator(`.hrow[data-hl="${key()}"]`);
      await row.waitFor({ timeout: 15_000 });
      // Charts drawn, with traffic in them.
      await waitFor(async () => {
        const d = await drawn(page, key());
        return (d.header[1] ?? []).some((v) => (v ?? 0) > 0) &&
          (d.rate?.[1] ?? []).some((v) => (v ?? 0) > 0);
      }, { timeoutMs: 20_000, intervalMs: 250, what: "charts with traffic in them" });
      await row.locator(".hsum").click();
      await waitFor(async () => (await drawn(page, key())).detail !== null, {
        timeoutMs: 10_000,
        what: "the listener's full charts",
      });

      const d = await drawn(page, key());
      const t = d.header[0] as number[];
      const body = await history(`?listener=${key()}&since=${t[0]}&until=${t.at(-1)}`);
      let n = sameValues("total connections/s", t, d.header[1]!, body, body.totals.connections);
      sameValues("total bytes up/s", t, d.header[2]!, body, body.totals.bytes_up);
      sameValues("total bytes down/s", t, d.header[3]!, body, body.totals.bytes_down);
      const l = body.listeners[0]!;
      n += sameValues(
        "listener connections/s",
        d.rate![0] as number[],
        d.rate![1]!,
        body,
        l.connections,
      );
      const det = d.detail!;
      assert.deepEqual([...det.keys].sort(), l.backends.map((x) => x.key).sort());
      det.keys.forEach((k, i) => {
        const bh = l.backends.find((x) => x.key === k)!;
        sameValues(
          `${k} connections/s`,
          det.conn[0] as number[],
          det.conn[i + 2]!,
          body,
          bh.connections,
        );
        sameValues(
          `${k} state`,
          det.health[0] as number[],
          det.health[i + 1]!,
          body,
          bh.state.map((s) => s === null ? null : BACKEND_STATES.indexOf(s)),
        );
      });
      assert.ok(n >= 4, `compared ${n} seconds`);
      assert.ok(body.totals.connections.some((v) => (v ?? 0) > 0));

      // Take backend b down: its health check fails, the timeline shows "down".
      b.close();
      const bKey = `127.0.0.1:${b.port}`;
      const down = BACKEND_STATES.indexOf("down");
      await waitFor(async () => {
        const x = (await drawn(page, key())).detail;
        const i = x?.keys.indexOf(bKey) ?? -1;
        return i >= 0 && (x!.health[i + 1] ?? []).slice(-5).includes(down);
      }, { timeoutMs: 20_000, intervalMs: 250, what: "the backend down on its timeline" });
      const after = await history(`?listener=${key()}&since=-5`);
      const bh = after.listeners[0]!.backends.find((x) => x.key === bKey)!;
      assert.ok(bh.state.includes("down"), JSON.stringify(bh.state));
      const aKey = `127.0.0.1:${a.port}`;
      assert.ok(!after.listeners[0]!.backends.find((x) => x.key === aKey)!.state.includes("down"));
      await page.screenshot({ path: join(ARTIFACTS, "dashboard-history.png"), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  it("follows the dark colour scheme, charts included", async () => {
    const page = await browser.newPage({
      viewport: { width: 1280, height: 900 },
      colorScheme: "dark",
    });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    try {
      await page.goto(`http://127.0.0.1:${admin.port}/`, { timeout: 15_000 });
      await waitFor(async () => (await drawn(page, key())).header.length > 0, {
        timeoutMs: 15_000,
        what: "the header chart",
      });
      // Browser code: the page background and the header chart's title colour follow the scheme.
      const colours = await page.evaluate(() => {
        const g = globalThis as unknown as {
          document: { body: unknown; querySelector(s: string): unknown };
          getComputedStyle(e: unknown): { backgroundColor: string; color: string };
        };
        return {
          bg: g.getComputedStyle(g.document.body).backgroundColor,
          title: g.getComputedStyle(g.document.querySelector("#h-chart .u-title")).color,
        };
      });
      assert.equal(colours.bg, "rgb(15, 19, 24)");
      assert.equal(colours.title, "rgb(230, 233, 238)");
      await page.screenshot({ path: join(ARTIFACTS, "dashboard-history-dark.png") });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  it("pages 200 listeners and follows the filter box", async () => {
    const many = await Promise.all(Array.from({ length: 200 }, () => freePort(rt)));
    engine.apply(table(
      listener(port, [backend(a.port)]),
      ...many.map((p) => listener(p, [backend(a.port)])),
    ));
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.goto(`http://127.0.0.1:${admin.port}/`, { timeout: 15_000 });
      await waitFor(async () => (await page.locator(".hrow").count()) === 20, {
        timeoutMs: 20_000,
        what: "one page of 20 rows",
      });
      // freePort may hand out a port twice: count what the engine has.
      const total = engine.listeners().filter((l) => l.state !== "draining").length;
      assert.ok(total > 180, `${total} listeners`);
      let text = "";
      await waitFor(async () => {
        text = await page.locator("#h-page").textContent() ?? "";
        return text === `1–20 of ${total}`;
      }, { timeoutMs: 10_000, what: "the page counter" }).catch(() => {});
      assert.equal(text, `1–20 of ${total}`);
      await page.click("#h-next");
      await waitFor(
        async () => /^21–40 of /.test(await page.locator("#h-page").textContent() ?? ""),
        {
          timeoutMs: 10_000,
          what: "the second page",
        },
      );
      await page.fill("#filter", `:${many[7]}`);
      await waitFor(async () => (await page.locator(".hrow").count()) === 1, {
        timeoutMs: 10_000,
        what: "the filtered row",
      });
      assert.equal(
        await page.locator(".hrow").first().getAttribute("data-hl"),
        `127.0.0.1:${many[7]}`,
      );
    } finally {
      await page.close();
    }
  });
});
