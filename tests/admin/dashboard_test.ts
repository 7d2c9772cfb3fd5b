// The dashboard and /docs in headless Chromium (Debian's, driven by playwright-core): no console
// errors, a listener of the fake engine shown, its counts following the engine, drain buttons,
// the token prompt, a phone-sized layout; screenshots land in tests/artifacts/ (git-ignored).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ARTIFACTS, type Browser, launchChromium, type Page, skip } from "./_chromium.ts";
import { startTestAdmin, type TestAdmin } from "./_admin_server.ts";
import { fakeBackend, fakeListener, fakeProvider } from "./_fake_engine.ts";
import { waitFor } from "../_support/wait.ts";

/** Console errors and uncaught page errors, collected for the assertion at the end. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

/** Polls (bounded) the text of the first element matching `selector` until `ok` accepts it. */
async function untilText(
  page: Page,
  selector: string,
  ok: (text: string) => boolean,
): Promise<void> {
  let last = "";
  await waitFor(async () => {
    last = (await page.locator(selector).first().textContent({ timeout: 1000 }).catch(() => "")) ??
      "";
    return ok(last);
  }, {
    timeoutMs: 10_000,
    intervalMs: 100,
    what: `${selector} (last text: ${JSON.stringify(last)})`,
  });
}

function listenerSel(key: string): string {
  return `section[data-listener="${key}"]`;
}

describe("dashboard in headless Chromium", { skip, timeout: 120_000 }, () => {
  let browser: Browser;
  let admin: TestAdmin;

  before(async () => {
    browser = await launchChromium();
    admin = await startTestAdmin({
      listeners: [
        fakeListener("127.0.0.1:15432", [
          fakeBackend("10.0.0.7:5432", {
            health: "up",
            weight: 2,
            counters: {
              active: 2,
              total: 40,
              connectFailures: 0,
              bytesDown: 1_000_000,
              bytesUp: 20_000,
            },
          }),
          fakeBackend("10.0.0.8:5432", {
            via: "socks5://ops:***@10.0.0.5:1080",
            health: "down",
            tier: 1,
          }),
        ], {
          services: ["db"],
          balance: "least_conn",
          counters: { active: 2, total: 40, refused: 0, bytesUp: 20_000, bytesDown: 1_000_000 },
        }),
        fakeListener("0.0.0.0:8080", [fakeBackend("127.0.0.1:9000", { service: "web" })], {
          label: "any",
          state: "bind_failed",
          error: "EADDRINUSE: address in use",
          services: ["web"],
        }),
      ],
      providers: [fakeProvider({ name: "file", lastUpdate: new Date().toISOString() })],
    });
  });

  after(async () => {
    await browser?.close();
    await admin?.close();
  });

  it("shows listeners, backends and provider state without console errors", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors = watchErrors(page);
    try {
      await page.goto(admin.url + "/", { timeout: 15_000 });
      const card = page.locator(listenerSel("127.0.0.1:15432"));
      await card.waitFor({ timeout: 10_000 });
      assert.equal(await card.locator('[data-field="state"]').textContent(), "listening");
      assert.equal(await card.locator('[data-field="active"]').textContent(), "2");
      const text = await card.textContent() ?? "";
      assert.match(text, /10\.0\.0\.7:5432/);
      assert.match(text, /via socks5:\/\/ops:\*\*\*@10\.0\.0\.5:1080/);
      assert.match(text, /least_conn/);
      const failed = page.locator(listenerSel("0.0.0.0:8080"));
      assert.equal(await failed.locator('[data-field="state"]').textContent(), "bind failed");
      assert.equal(
        await failed.locator('[data-field="error"]').textContent(),
        "EADDRINUSE: address in use",
      );
      assert.match(await page.locator('[data-provider="file"]').textContent() ?? "", /ok/);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  it("follows the engine: connection counts move and rates appear between polls", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors = watchErrors(page);
    try {
      await page.goto(admin.url + "/", { timeout: 15_000 });
      const card = page.locator(listenerSel("127.0.0.1:15432"));
      await card.waitFor({ timeout: 10_000 });
      const l = admin.engine.state.find((x) => x.key === "127.0.0.1:15432");
      const b = l?.backends[0];
      assert.ok(l && b);
      // Traffic as the engine would count it: new connections and bytes each poll.
      const bump = setInterval(() => {
        l.counters.total += 5;
        l.counters.bytesUp += 64 * 1024;
        l.counters.bytesDown += 512 * 1024;
        b.counters.total += 5;
      }, 200);
      try {
        l.counters.active = 7;
        b.counters.active = 7;
        await untilText(
          page,
          `${listenerSel("127.0.0.1:15432")} [data-field="active"]`,
          (t) => t === "7",
        );
        await untilText(page, "#t-conn", (t) => t.endsWith("/s") && t !== "0.0/s");
      } finally {
        clearInterval(bump);
      }
      assert.equal(await page.locator("#t-active").textContent(), "7");
      assert.match(await page.locator("#t-in").textContent() ?? "", /iB\/s$|B\/s$/);
      await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  it("drains and undrains a backend with its buttons", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors = watchErrors(page);
    try {
      await page.goto(admin.url + "/", { timeout: 15_000 });
      const row = page.locator(
        `${listenerSel("127.0.0.1:15432")} tr[data-backend-row="10.0.0.7:5432"]`,
      );
      await row.waitFor({ timeout: 10_000 });
      await row.locator("button", { hasText: "Drain" }).click();
      await untilText(
        page,
        'tr[data-backend-row="10.0.0.7:5432"]',
        (t) => t.includes("drained (admin)"),
      );
      assert.deepEqual(admin.engine.drainCalls.at(-1), {
        listener: "127.0.0.1:15432",
        backend: "10.0.0.7:5432",
        drain: true,
      });
      await row.locator("button", { hasText: "Undrain" }).click();
      await untilText(page, 'tr[data-backend-row="10.0.0.7:5432"]', (t) => !t.includes("drained"));
      assert.equal(admin.engine.drainCalls.at(-1)?.drain, false);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  it("fits a phone screen without sideways scrolling", async () => {
    const page = await browser.newPage({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    const errors = watchErrors(page);
    try {
      await page.goto(admin.url + "/", { timeout: 15_000 });
      await page.locator(listenerSel("127.0.0.1:15432")).waitFor({ timeout: 10_000 });
      // Browser-side code, typed loosely: these files are checked without the DOM library.
      const overflow = await page.evaluate(() => {
        const root = (globalThis as unknown as {
          document: { documentElement: { scrollWidth: number; clientWidth: number } };
        }).document.documentElement;
        return root.scrollWidth - root.clientWidth;
      });
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
      await page.screenshot({ path: join(ARTIFACTS, "dashboard-phone.png"), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  it("/docs renders every operation of the OpenAPI document", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors = watchErrors(page);
    try {
      await page.goto(admin.url + "/docs", { timeout: 15_000 });
      await page.locator("#op-drainBackend").waitFor({ timeout: 10_000 });
      const doc = await (await admin.get("/openapi.json")).json() as {
        paths: Record<string, Record<string, { operationId: string }>>;
      };
      for (const item of Object.values(doc.paths)) {
        for (const op of Object.values(item)) {
          assert.equal(await page.locator(`#op-${op.operationId}`).count(), 1, op.operationId);
        }
      }
      assert.equal(await page.locator("#schema-Listener").count(), 1);
      // "Try" runs a GET with the page's token handling and shows the answer.
      await page.locator('button[data-try="/api/v1/routing"]').click();
      await untilText(page, 'pre[data-out="/api/v1/routing"]', (t) => t.startsWith("200"));
      await page.screenshot({ path: join(ARTIFACTS, "docs.png"), fullPage: false });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});

describe("dashboard with admin.token in headless Chromium", { skip, timeout: 120_000 }, () => {
  const token = "dash-s3cret";
  let browser: Browser;
  let admin: TestAdmin;

  before(async () => {
    browser = await launchChromium();
    admin = await startTestAdmin({
      token,
      listeners: [fakeListener("127.0.0.1:15499", [fakeBackend("10.0.0.9:80")])],
    });
  });

  after(async () => {
    await browser?.close();
    await admin?.close();
  });

  it("asks for the token, then shows the listeners and sends it on every request", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors = watchErrors(page);
    const auth: (string | null)[] = [];
    page.on("request", (r) => {
      if (r.url().includes("/api/v1/")) auth.push(r.headers()["authorization"] ?? null);
    });
    try {
      const res = await page.goto(admin.url + "/", { timeout: 15_000 });
      assert.equal(res?.status(), 401);
      await page.locator("#login.show").waitFor({ timeout: 10_000 });
      assert.equal(await page.locator(listenerSel("127.0.0.1:15499")).count(), 0);

      await page.fill("#login-token", "wrong");
      await page.click('#login-form button[type="submit"]');
      await untilText(page, "#login-msg", (t) => t.includes("not accepted"));

      await page.fill("#login-token", token);
      await page.click('#login-form button[type="submit"]');
      await page.locator(listenerSel("127.0.0.1:15499")).waitFor({ timeout: 10_000 });
      assert.ok(auth.includes(`Bearer ${token}`));
      await page.screenshot({ path: join(ARTIFACTS, "dashboard-token.png") });

      // The token is kept for this tab: a reload goes straight to the data.
      await page.reload({ timeout: 15_000 });
      await page.locator(listenerSel("127.0.0.1:15499")).waitFor({ timeout: 10_000 });
      assert.equal(await page.locator("#login.show").count(), 0);

      // The browser reports the 401s themselves (the page and the rejected token): expected.
      const unexpected = errors.filter((e) => !/status of 401/.test(e));
      assert.deepEqual(unexpected, []);
    } finally {
      await page.close();
    }
  });
});
