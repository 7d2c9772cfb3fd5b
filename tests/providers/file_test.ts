import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFileProvider } from "../../src/providers/file.ts";
import { createLogger } from "../../src/log.ts";
import { getRuntime } from "../../src/runtime/detect.ts";
import type { Provider } from "../../src/providers/types.ts";
import type { Runtime, Watcher } from "../../src/runtime/types.ts";
import { captureLogs, createCollector } from "./_snapshots.ts";
import { waitFor } from "../_support/wait.ts";
import { whenDone } from "../_support/cleanup.ts";

const realRt = getRuntime();

/** What the provider's file watches did: started, callbacks run (each a whole read), closed. */
const watches = { started: 0, fired: 0, closed: 0 };

/**
 * The real runtime with watchFile observed: a test waits for the watch callback (an explicit
 * event) instead of sleeping and hoping it fired. readOnce is synchronous, so once `fired`
 * moves the read it triggered is over.
 */
const rt: Runtime = new Proxy(realRt, {
  get(target, key) {
    if (key === "watchFile") {
      return (path: string, onChange: () => void, o?: { debounceMs?: number }): Watcher => {
        watches.started++;
        const w = target.watchFile(path, () => {
          onChange();
          watches.fired++;
        }, o);
        return {
          close() {
            watches.closed++;
            w.close();
          },
        };
      };
    }
    const v = Reflect.get(target, key, target);
    return typeof v === "function" ? v.bind(target) : v;
  },
});

function service(name: string, port: number, backend = "127.0.0.1:9000"): string {
  return `[[services]]\nname = "${name}"\nlistener = "local:${port}"\nbackends = ["${backend}"]\n`;
}

describe("file provider", () => {
  let dir: string;
  let n = 0;
  const providers: Provider[] = [];

  // Keep the runner's output clean; tests that look at logs capture them themselves.
  let quiet: ReturnType<typeof captureLogs>;

  before(async () => {
    quiet = captureLogs();
    dir = await mkdtemp(join(tmpdir(), "sluice-file-provider-"));
  });
  after(async () => {
    await Promise.all(providers.map((p) => p.stop()));
    await rm(dir, { recursive: true, force: true });
    quiet.restore();
  });

  function start(path: string, watch = true) {
    const p = createFileProvider({
      rt,
      config: { path, watch },
      log: createLogger("provider.file"),
    });
    providers.push(p);
    const c = createCollector();
    p.start(c.push);
    return { p, c };
  }

  function freshPath(ext = "toml"): string {
    return join(dir, `routing-${++n}.${ext}`);
  }

  it("delivers the services of the file at start and reports ok with a content index", async () => {
    const path = freshPath();
    await writeFile(path, service("a", 20001) + service("b", 20002));
    const { p, c } = start(path);
    const first = await c.waitFor(1);
    assert.deepEqual(first.map((s) => s.name).sort(), ["a", "b"]);
    assert.deepEqual(first.find((s) => s.name === "a")?.listeners, [{
      label: "local",
      port: 20001,
    }]);
    const st = p.status();
    assert.equal(st.state, "ok");
    assert.equal(st.kind, "file");
    assert.equal(st.services, 2);
    assert.match(st.index ?? "", /^[0-9a-f]{16}$/);
    assert.ok(st.lastUpdate);
  });

  it("reads YAML and JSON documents by extension", async () => {
    const y = freshPath("yaml");
    await writeFile(
      y,
      'services:\n  - name: y\n    listener: local:20011\n    backends: ["127.0.0.1:9000"]\n',
    );
    const j = freshPath("json");
    await writeFile(
      j,
      JSON.stringify({
        services: [{ name: "j", listener: "local:20012", backends: ["127.0.0.1:9000"] }],
      }),
    );
    const a = start(y, false);
    const b = start(j, false);
    assert.equal((await a.c.waitFor(1))[0]?.name, "y");
    assert.equal((await b.c.waitFor(1))[0]?.name, "j");
  });

  it("follows an edit in place", { timeout: 10_000 }, async () => {
    const path = freshPath();
    await writeFile(path, service("a", 20001));
    const { c } = start(path);
    await c.waitFor(1);
    await writeFile(path, service("a", 20001) + service("c", 20003));
    await c.waitFor(2);
    assert.deepEqual(c.names(), ["a", "c"]);
  });

  it("follows an atomic rename-save within one second", { timeout: 10_000 }, async () => {
    const path = freshPath();
    await writeFile(path, service("a", 20001));
    const { c } = start(path);
    await c.waitFor(1);
    // Edit twice, as an editor saving twice would: the watch must survive the first rename.
    for (const [i, svc] of [["2", "r1"], ["3", "r2"]] as const) {
      const tmp = `${path}.tmp${i}`;
      await writeFile(tmp, service(svc, 20004));
      await rename(tmp, path);
      await c.waitFor(Number(i), 1000);
      assert.deepEqual(c.names(), [svc]);
    }
  });

  it(
    "applies a rename-save at once and drops a pending in-place debounce",
    { timeout: 10_000 },
    async () => {
      const path = freshPath();
      await writeFile(path, service("a", 20001));
      // A debounce no test waits for: only the rename path can deliver.
      const p = createFileProvider({
        rt,
        config: { path, watch: true },
        log: createLogger("provider.file"),
        debounceMs: 3_600_000,
      });
      providers.push(p);
      const c = createCollector();
      p.start(c.push);
      await c.waitFor(1);
      // An in-place write arms the (hour-long) debounce; the rename that follows is read at
      // once and carries the last content.
      await writeFile(path, service("a", 20001) + service("inplace", 20005));
      const tmp = `${path}.tmp`;
      await writeFile(tmp, service("renamed", 20006));
      await rename(tmp, path);
      await c.waitFor(2, 5000);
      assert.deepEqual(c.names(), ["renamed"]);
      assert.equal(c.snaps.length, 2, "the in-place write was not delivered on its own");
    },
  );

  it(
    "keeps the previous services on an unparsable edit, reports line and column, recovers after a fix",
    {
      timeout: 10_000,
    },
    async (t) => {
      const logs = captureLogs();
      whenDone(t, logs.restore);
      const path = freshPath();
      await writeFile(path, service("a", 20001));
      const { p, c } = start(path);
      await c.waitFor(1);
      await writeFile(path, service("a", 20001) + "[[services]\nname = \n");
      await waitFor(() => p.status().state === "failing", {
        timeoutMs: 3000,
        what: "state failing",
      });
      const st = p.status();
      assert.match(st.lastError ?? "", new RegExp(`${path.replace(/[.]/g, "\\.")}:\\d+:\\d+: `));
      assert.equal(st.services, 1, "the last good snapshot is still counted");
      assert.equal(c.snaps.length, 1, "nothing was delivered for the broken document");
      const errors = logs.records.filter((r) => r.msg === "provider failing");
      assert.equal(errors.length, 1);
      assert.match(String(errors[0]?.error), /:\d+:\d+: /);

      await writeFile(path, service("a", 20001) + service("fixed", 20005));
      await c.waitFor(2);
      assert.deepEqual(c.names(), ["a", "fixed"]);
      assert.equal(p.status().state, "ok");
      assert.ok(logs.records.some((r) => r.msg === "provider recovered"));
    },
  );

  it("drops an invalid route alone, with a warning naming service, field and reason", async (t) => {
    const logs = captureLogs();
    whenDone(t, logs.restore);
    const path = freshPath();
    await writeFile(path, service("good", 20006) + service("bad", 20007, "no-port-here"));
    const { p, c } = start(path, false);
    const snap = await c.waitFor(1);
    assert.deepEqual(snap.map((s) => s.name), ["good"]);
    const warnings = logs.records.filter((r) => r.msg === "route problem");
    assert.ok(warnings.length >= 1);
    assert.ok(
      warnings.every((w) => w.service === "bad" && w.source === path && w.level === "warn"),
    );
    const backend = warnings.find((w) => w.field === "backends[0]");
    assert.match(String(backend?.reason), /no-port-here/);
    assert.equal(p.status().state, "ok");
  });

  it("waits for a missing file and loads it once it is created", { timeout: 10_000 }, async (t) => {
    const logs = captureLogs();
    whenDone(t, logs.restore);
    const path = freshPath();
    const { p, c } = start(path);
    await waitFor(() => p.status().state === "failing", { timeoutMs: 3000, what: "state failing" });
    assert.match(p.status().lastError ?? "", /no such file/);
    assert.equal(c.snaps.length, 0);
    await writeFile(path, service("late", 20008));
    const snap = await c.waitFor(1);
    assert.equal(snap[0]?.name, "late");
    assert.equal(p.status().state, "ok");
    assert.equal(logs.records.filter((r) => r.msg === "provider failing").length, 1);
  });

  it("survives a missing directory and watches it after a reload once it exists", {
    timeout: 10_000,
  }, async (t) => {
    const logs = captureLogs();
    whenDone(t, logs.restore);
    const sub = join(dir, `later-${++n}`);
    const path = join(sub, "routing.toml");
    const { p, c } = start(path);
    await waitFor(() => p.status().state === "failing", { timeoutMs: 3000, what: "state failing" });
    assert.ok(
      logs.records.some((r) =>
        r.msg === "cannot watch the routing file; edits need a reload (SIGHUP)"
      ),
    );
    await mkdir(sub);
    await writeFile(path, service("v1", 20013));
    await p.reload?.();
    assert.deepEqual(c.names(), ["v1"]);
    // The reload also started the watch: the next edit arrives by itself.
    await writeFile(path, service("v2", 20013));
    await c.waitFor(2);
    assert.deepEqual(c.names(), ["v2"]);
  });

  it("skips delivery when the content did not change", { timeout: 10_000 }, async () => {
    const path = freshPath();
    await writeFile(path, service("same", 20009));
    const { p, c } = start(path);
    await c.waitFor(1);
    const index = p.status().index;
    const fired = watches.fired;
    await writeFile(path, service("same", 20009));
    await p.reload?.();
    assert.equal(c.snaps.length, 1, "the reload did not deliver");
    // The watch reads the file again too (an event, not a sleep); neither read may deliver.
    await waitFor(() => watches.fired > fired, { what: "the watch to read the rewritten file" });
    assert.equal(c.snaps.length, 1);
    assert.equal(p.status().index, index);
  });

  it("re-reads on reload() when the file is not watched", async () => {
    const path = freshPath();
    await writeFile(path, service("v1", 20010));
    const started = watches.started;
    const { p, c } = start(path, false);
    await c.waitFor(1);
    await writeFile(path, service("v2", 20010));
    // Nothing can happen by itself: no watch was started (checked, rather than slept on).
    assert.equal(watches.started, started, "no watch on an unwatched file");
    assert.equal(c.snaps.length, 1, "no watch: nothing happens by itself");
    await p.reload?.();
    assert.equal(c.snaps.length, 2);
    assert.deepEqual(c.names(), ["v2"]);
  });

  it("stops delivering after stop() and reports stopped", { timeout: 10_000 }, async () => {
    const path = freshPath();
    await writeFile(path, service("s", 20012));
    const { p, c } = start(path);
    await c.waitFor(1);
    const closed = watches.closed;
    await p.stop();
    // stop() closed the watch: no event can start a read (checked, rather than slept on).
    assert.equal(watches.closed, closed + 1, "stop() closes the file watch");
    await writeFile(path, service("s2", 20012));
    assert.equal(c.snaps.length, 1);
    assert.equal(p.status().state, "stopped");
    // reload() after stop() reads nothing either.
    await p.reload?.();
    assert.equal(c.snaps.length, 1);
  });
});
