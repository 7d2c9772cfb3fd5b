// Issue 12, bug 12: a routing document in which every service is invalid (a port out of range,
// a wrong type), or a provider answer of that shape, closed every running listener. Such a
// version is now refused like one that does not parse while the routes before it had any: the
// provider keeps its last good routes and reports the problem. An explicit `services = []` (or
// every instance gone) still means "no services".
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFileProvider } from "../../src/providers/file.ts";
import { createHttpProvider } from "../../src/providers/http.ts";
import { createConsulProvider } from "../../src/providers/consul.ts";
import { createNomadProvider } from "../../src/providers/nomad.ts";
import { getRuntime } from "../../src/runtime/detect.ts";
import { startRoutingServer } from "../_support/http_routing_server.ts";
import { startConsulEmulator } from "../_support/consul_emulator.ts";
import { startNomadEmulator } from "../_support/nomad_emulator.ts";
import { captureLogger, collector, FAST, view } from "../providers/_harness.ts";
import { waitFor } from "../_support/wait.ts";
import { whenDone } from "../_support/cleanup.ts";

const rt = getRuntime();

const GOOD = `[[services]]\nname = "a"\nlistener = "local:20001"\nbackends = ["127.0.0.1:9000"]\n`;
/** Every service invalid: a port out of range, a backends list of the wrong type. */
const ALL_BAD =
  `[[services]]\nname = "a"\nlistener = "local:99999"\nbackends = ["127.0.0.1:9000"]\n\n` +
  `[[services]]\nname = "b"\nlistener = "local:20002"\nbackends = 7\n`;
const EMPTY = `services = []\n`;

const failingWith = (p: { status(): { state: string; lastError?: string } }) => () =>
  p.status().state === "failing" ? p.status().lastError : undefined;

describe("a routing version in which every service is invalid", () => {
  it("file: keeps the last good routes, reports, and still accepts services = []", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-all-invalid-"));
    whenDone(t, () => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "routing.toml");
    await writeFile(path, GOOD);
    const p = createFileProvider({ rt, config: { path, watch: false }, log: captureLogger() });
    whenDone(t, () => p.stop());
    const c = collector();
    p.start((s) => c.onSnapshot(s));
    await waitFor(() => c.snapshots.length === 1, { what: "the first snapshot" });
    assert.deepEqual(view(c.last), ["a local:20001 -> 127.0.0.1:9000"]);

    await writeFile(path, ALL_BAD);
    await p.reload?.();
    const err = await waitFor(failingWith(p), { what: "the file provider to fail" });
    assert.match(err, /no valid service/);
    assert.match(err, new RegExp(path.replaceAll(".", "\\.")));
    assert.equal(c.snapshots.length, 1, "no snapshot from the all-invalid document");
    assert.equal(p.status().services, 1);

    await writeFile(path, EMPTY);
    await p.reload?.();
    await waitFor(() => c.snapshots.length === 2, { what: "the explicit empty list" });
    assert.deepEqual(c.last, []);
    assert.equal(p.status().state, "ok");
  });

  it("http: keeps the last good routes, reports, and still accepts services = []", async (t) => {
    const s = await startRoutingServer(rt, { body: GOOD, contentType: "application/toml" });
    whenDone(t, () => s.close());
    const p = createHttpProvider({
      rt,
      log: captureLogger(),
      config: {
        endpoint: s.url("/routing.toml"),
        pollIntervalMs: 20,
        pollTimeoutMs: 5000,
        headers: {},
        maxBytes: 64 * 1024,
        tls: { insecure: false },
      },
      backoff: { baseMs: 20, maxMs: 50 },
    });
    whenDone(t, () => p.stop());
    const c = collector();
    p.start((x) => c.onSnapshot(x));
    await waitFor(() => c.snapshots.length === 1, { what: "the first snapshot" });

    s.set({ body: ALL_BAD, contentType: "application/toml" });
    const err = await waitFor(failingWith(p), { what: "the http provider to fail" });
    assert.match(err, /no valid service/);
    assert.equal(c.snapshots.length, 1);
    assert.equal(p.status().services, 1);

    s.set({ body: EMPTY, contentType: "application/toml" });
    await waitFor(() => c.snapshots.length === 2, { what: "the explicit empty list" });
    assert.deepEqual(c.last, []);
  });

  it("consul: an answer whose every instance is invalid keeps the routes; deregistering empties", async (t) => {
    const emu = await startConsulEmulator({ jitter: false });
    whenDone(t, () => emu.close());
    const id = emu.register({
      name: "web",
      address: "127.0.0.1",
      port: 6001,
      tags: ["sluice", "sluice.listener=local:5001"],
    });
    const p = createConsulProvider({
      rt,
      log: captureLogger(),
      config: {
        address: emu.url,
        token: "",
        datacenter: "",
        namespace: "",
        waitMs: 1000,
        consistencyMode: "leader",
        tag: "sluice",
        tls: { insecure: false },
      },
      bucket: FAST.bucket,
      pacing: FAST.pacing,
      random: () => 0.5,
    });
    whenDone(t, () => p.stop());
    const c = collector();
    p.start((x) => c.onSnapshot(x));
    await waitFor(() => c.snapshots.length === 1, { what: "the first snapshot" });
    assert.deepEqual(view(c.last), ["web local:5001 -> 127.0.0.1:6001"]);

    emu.setTags(id, ["sluice", "sluice.listener=local:99999"]);
    const err = await waitFor(failingWith(p), {
      what: "the consul provider to fail",
      timeoutMs: 8000,
    });
    assert.match(err, /^consul: no valid service/);
    assert.equal(c.snapshots.length, 1);
    assert.equal(p.status().services, 1);

    emu.deregister(id);
    await waitFor(() => c.snapshots.length === 2, { what: "the empty snapshot", timeoutMs: 8000 });
    assert.deepEqual(c.last, []);
  });

  it("nomad: an answer whose every registration is invalid keeps the routes; deregistering empties", async (t) => {
    const emu = await startNomadEmulator({ jitter: false });
    whenDone(t, () => emu.close());
    const id = emu.register({
      name: "api",
      address: "127.0.0.1",
      port: 6002,
      tags: ["sluice", "sluice.listener=local:5002"],
    });
    const p = createNomadProvider({
      rt,
      log: captureLogger(),
      config: {
        address: emu.url,
        token: "",
        namespace: "default",
        waitMs: 1000,
        stale: false,
        tag: "sluice",
        tls: { insecure: false },
      },
      bucket: FAST.bucket,
      pacing: FAST.pacing,
      random: () => 0.5,
    });
    whenDone(t, () => p.stop());
    const c = collector();
    p.start((x) => c.onSnapshot(x));
    await waitFor(() => c.snapshots.length === 1, { what: "the first snapshot" });
    assert.deepEqual(view(c.last), ["api local:5002 -> 127.0.0.1:6002"]);

    emu.setTags(id, ["sluice", "sluice.listener=local:99999"]);
    const err = await waitFor(failingWith(p), {
      what: "the nomad provider to fail",
      timeoutMs: 8000,
    });
    assert.match(err, /^nomad: no valid service/);
    assert.equal(c.snapshots.length, 1);
    assert.equal(p.status().services, 1);

    emu.deregister(id);
    await waitFor(() => c.snapshots.length === 2, { what: "the empty snapshot", timeoutMs: 8000 });
    assert.deepEqual(c.last, []);
  });
});
