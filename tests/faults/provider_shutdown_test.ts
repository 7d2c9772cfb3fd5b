// Issue 12, bug 5: with a Consul or Nomad provider over HTTPS with `tls.insecure = true`, SIGTERM
// logged "shutting down" and sluice (Deno) kept serving: the stop waited on the provider's long
// poll, which Deno's node:https never aborted. Here a TLS server holds every blocking query
// forever; SIGTERM must end the process within drain_timeout plus a bound, and the proxy port
// must refuse afterwards.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { createConsulProvider } from "../../src/providers/consul.ts";
import { createHttpProvider } from "../../src/providers/http.ts";
import { createNomadProvider } from "../../src/providers/nomad.ts";
import type { Provider } from "../../src/providers/types.ts";
import { captureLogger } from "../providers/_harness.ts";
import { type EmulatorServer, startEmulatorServer } from "../_support/emulator_http.ts";
import { makeTestCerts, type TestCerts } from "../_support/test_certs.ts";
import {
  canConnect,
  fetchBanner,
  freePort,
  runtime,
  spawnSluice,
  startNamedServer,
  tempDir,
  type TestServer,
} from "../_support/helpers.ts";
import { waitFor, within } from "../_support/wait.ts";

/** drain_timeout in the config below. */
const DRAIN_MS = 1000;
/** What SIGTERM may take beyond the drain on a loaded machine (it took minutes with the bug). */
const EXIT_BOUND_MS = 15_000;

/**
 * An HTTPS server that answers a plain list read with `[]` and an index, and holds every
 * blocking read (one with `index`) until it is closed: a Consul or Nomad with nothing changing.
 */
function startHoldingServer(certs: TestCerts, indexHeader: string): Promise<EmulatorServer> {
  return startEmulatorServer({
    tls: { key: certs.serverKey, cert: certs.serverCert },
    handle({ res, query, closed }) {
      if (query.index === undefined) {
        res.writeHead(200, { "Content-Type": "application/json", [indexHeader]: "5" });
        res.end("[]");
        return;
      }
      // Held: never answered while the server runs.
      return new Promise<void>((resolve) => closed.addEventListener("abort", () => resolve()));
    },
  });
}

const CASES = [
  { kind: "consul", indexHeader: "X-Consul-Index", list: "/v1/health/state/any" },
  { kind: "nomad", indexHeader: "X-Nomad-Index", list: "/v1/services" },
] as const;

describe("SIGTERM with a provider long poll held over insecure HTTPS", () => {
  let rt: Runtime;
  let certs: TestCerts;
  let backend: TestServer;

  before(async () => {
    rt = await runtime();
    certs = makeTestCerts();
    backend = startNamedServer(rt, "held");
  });
  after(() => backend.close());

  for (const c of CASES) {
    it(`${c.kind}: exits within drain_timeout + a bound and stops serving`, async () => {
      const server = await startHoldingServer(certs, c.indexHeader);
      const dir = await tempDir(`sluice-${c.kind}-stop-`);
      const port = await freePort(rt);
      const config = join(dir.path, "config.toml");
      await writeFile(
        config,
        `[listeners]
allowed = { local = "127.0.0.1" }
port_min = 1024
port_max = 65535
drain_timeout = "${DRAIN_MS}ms"
bind_retry = "300ms"

[admin]
listener = ""

[routing.file]
path = "routing.toml"

[routing.${c.kind}]
address = "${server.url}"
tls = { insecure = true }
`,
      );
      await writeFile(
        join(dir.path, "routing.toml"),
        `[[services]]\nname = "held"\nlistener = "local:${port}"\nbackends = ["127.0.0.1:${backend.port}"]\n`,
      );
      const sluice = spawnSluice(rt, ["run", "-c", config], { cwd: dir.path });
      try {
        await waitFor(async () => (await fetchBanner(rt, port).catch(() => "")) === "held", {
          timeoutMs: 20_000,
          intervalMs: 50,
          what: `port ${port} to serve:\n${sluice.lines.join("\n")}`,
        });
        // The provider's blocking query is parked on the server.
        await waitFor(
          () => server.requests.some((r) => r.path === c.list && r.query.index !== undefined),
          { timeoutMs: 20_000, intervalMs: 20, what: `a blocking ${c.kind} query` },
        );
        assert.ok(server.pending() >= 1, "the long poll is held");
        sluice.signal("SIGTERM");
        const code = await sluice.exited(DRAIN_MS + EXIT_BOUND_MS);
        assert.equal(code, 0, sluice.lines.join("\n"));
        assert.ok(sluice.lines.some((l) => /shutting down/.test(l)));
        assert.equal(await canConnect(rt, port), false, "the proxy port refuses after exit");
      } finally {
        sluice.kill();
        await sluice.exited(10_000).catch(() => null);
        await server.close();
        await dir.remove();
      }
    });
  }
});

/** A runtime whose HTTP client ignores its abort signal and never answers. */
function deafRuntime(asked: { n: number }): Runtime {
  const fetch = () => {
    asked.n++;
    return new Promise<Response>(() => {});
  };
  return { httpClient: () => fetch } as unknown as Runtime;
}

describe("stop() never waits on a request, even one whose fetch ignores its signal", () => {
  const tls = { insecure: true };
  const makers: [string, (rt: Runtime) => Provider][] = [
    ["consul", (rt) =>
      createConsulProvider({
        rt,
        log: captureLogger(),
        config: {
          address: "https://127.0.0.1:1",
          token: "",
          datacenter: "",
          namespace: "",
          waitMs: 300_000,
          consistencyMode: "stale",
          tag: "sluice",
          tls,
        },
      })],
    ["nomad", (rt) =>
      createNomadProvider({
        rt,
        log: captureLogger(),
        config: {
          address: "https://127.0.0.1:1",
          token: "",
          namespace: "default",
          waitMs: 300_000,
          stale: false,
          tag: "sluice",
          tls,
        },
      })],
    ["http", (rt) =>
      createHttpProvider({
        rt,
        log: captureLogger(),
        config: {
          endpoint: "https://127.0.0.1:1/routing.json",
          pollIntervalMs: 5000,
          pollTimeoutMs: 300_000,
          headers: {},
          maxBytes: 1024,
          tls,
        },
      })],
  ];
  for (const [kind, make] of makers) {
    it(`${kind}: stop() returns while the request is still unanswered`, async () => {
      const asked = { n: 0 };
      const p = make(deafRuntime(asked));
      p.start(() => {});
      await waitFor(() => asked.n === 1, { timeoutMs: 5000, intervalMs: 5, what: "the request" });
      // The request would wait five minutes; stop() must not.
      await within(p.stop(), 5000, `${kind} provider stop() during a request`);
      assert.equal(p.status().state, "stopped");
      assert.equal(asked.n, 1, "no request after the stop");
    });
  }
});
