import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { createProviders } from "../../src/providers/create.ts";
import { buildTable } from "../../src/routing/table.ts";
import { tableConfigFrom } from "../../src/config/table_config.ts";
import { createLogger } from "../../src/log.ts";
import { getRuntime } from "../../src/runtime/detect.ts";
import type { Provider } from "../../src/providers/types.ts";
import type { ProviderRoutes, ServiceSpec } from "../../src/routing/types.ts";
import { type RoutingServer, startRoutingServer } from "../_support/http_routing_server.ts";
import { captureLogs } from "./_snapshots.ts";
import { waitFor } from "../_support/wait.ts";

const rt = getRuntime();

const TOML = (name: string, port: number) =>
  `[[services]]\nname = "${name}"\nlistener = "local:${port}"\nbackends = ["127.0.0.1:9000"]\n`;

describe("createProviders()", () => {
  let dir: string;
  let quiet: ReturnType<typeof captureLogs>;
  const cleanup: (() => Promise<void>)[] = [];

  before(async () => {
    quiet = captureLogs();
    dir = await mkdtemp(join(tmpdir(), "sluice-create-providers-"));
  });
  after(async () => {
    for (const f of cleanup.reverse()) await f();
    await rm(dir, { recursive: true, force: true });
    quiet.restore();
  });

  async function config(name: string, text: string) {
    const path = join(dir, name);
    await writeFile(path, text);
    return loadConfig({ path, env: {} });
  }

  function track(list: Provider[]): Provider[] {
    cleanup.push(async () => {
      await Promise.all(list.map((p) => p.stop()));
    });
    return list;
  }

  it("creates one provider per configured routing section, in a fixed order", async () => {
    const c = await config(
      "all.toml",
      [
        "[routing.nomad]",
        'address = "http://127.0.0.1:4646"',
        "[routing.consul]",
        'address = "http://127.0.0.1:8500"',
        "[routing.http]",
        'endpoint = "http://127.0.0.1:8080/routing.json"',
        "[routing.file]",
        'path = "routing.toml"',
      ].join("\n"),
    );
    const list = track(createProviders({ config: c, rt, log: createLogger("provider") }));
    assert.deepEqual(list.map((p) => [p.kind, p.name]), [
      ["file", "file"],
      ["http", "http"],
      ["consul", "consul"],
      ["nomad", "nomad"],
    ]);
    // Not started: every one is waiting for its first snapshot.
    assert.ok(list.every((p) => p.status().state === "waiting"));
  });

  it("creates none when no routing section is configured", async () => {
    const c = await config("none.toml", "[listeners]\nport_min = 2000\n");
    assert.deepEqual(createProviders({ config: c, rt, log: createLogger("provider") }), []);
  });

  it(
    "runs a file and an HTTP provider at once; both sets of services become listeners of one table",
    {
      timeout: 15_000,
    },
    async () => {
      const server: RoutingServer = await startRoutingServer(rt, {
        body: TOML("from-http", 21102),
        contentType: "application/toml",
      });
      cleanup.push(() => server.close());
      const routingPath = join(dir, "routing.toml");
      await writeFile(routingPath, TOML("from-file", 21101));
      const c = await config(
        "both.toml",
        [
          "[routing.file]",
          `path = ${JSON.stringify(routingPath)}`,
          "[routing.http]",
          `endpoint = ${JSON.stringify(server.url("/routing"))}`,
          'poll_interval = "50ms"',
        ].join("\n"),
      );
      const providers = track(createProviders({ config: c, rt, log: createLogger("provider") }));
      const routes = new Map<string, readonly ServiceSpec[]>();
      for (const p of providers) p.start((services) => routes.set(p.name, services));
      const table = () => {
        const all: ProviderRoutes[] = [...routes].map(([provider, services]) => ({
          provider,
          services,
        }));
        return buildTable(all, tableConfigFrom(c)).table;
      };
      const keys = () => [...table().listeners.keys()];

      await waitFor(() => routes.size === 2, {
        timeoutMs: 5000,
        what: "both providers to deliver",
      });
      assert.deepEqual(keys(), ["127.0.0.1:21101", "127.0.0.1:21102"]);
      assert.deepEqual(table().listeners.get("127.0.0.1:21102")?.services, ["from-http"]);
      assert.deepEqual(table().listeners.get("127.0.0.1:21101")?.services, ["from-file"]);

      // The HTTP endpoint goes away: its routes stay while file edits still apply.
      await server.down();
      const http = providers.find((p) => p.kind === "http") as Provider;
      await waitFor(() => http.status().state === "failing", {
        timeoutMs: 5000,
        what: "http provider failing",
      });
      await writeFile(routingPath, TOML("from-file", 21101) + TOML("added", 21103));
      await waitFor(() => keys().length === 3, { timeoutMs: 5000, what: "the file edit to apply" });
      assert.deepEqual(keys(), ["127.0.0.1:21101", "127.0.0.1:21102", "127.0.0.1:21103"]);
      assert.equal(http.status().services, 1);
    },
  );
});
