// Issue 12, bug 10: a Consul or Nomad answer had no size limit (a catalog answer of about 1 GB
// drove RSS past 1 GB). Every provider reads its answer through one capped reader: past
// `max_bytes` the read is cancelled, the error names the provider, the URL (redacted) and the
// cap, and the last good routes stay. The server below counts what it managed to send: a read
// that was really cut leaves most of its huge body unsent.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createConsulProvider } from "../../src/providers/consul.ts";
import { createNomadProvider } from "../../src/providers/nomad.ts";
import { createHttpProvider } from "../../src/providers/http.ts";
import type { Provider } from "../../src/providers/types.ts";
import { getRuntime } from "../../src/runtime/detect.ts";
import { captureLogger, collector, FAST, view } from "../providers/_harness.ts";
import { waitFor } from "../_support/wait.ts";
import { whenDone } from "../_support/cleanup.ts";

const rt = getRuntime();
const CAP = 64 * 1024;
/** What the server tries to send once it turns hostile. */
const HUGE = 512 * 1024 * 1024;
/** What one answer may pass before the client cuts: the cap, socket buffers both sides, slack. */
const SENT_BOUND = 32 * 1024 * 1024;

interface HugeServer {
  readonly url: string;
  /** The most bytes of one huge body the client took before it cut the read. */
  sent(): number;
  /** From now on every answer (held ones included) is a huge body. */
  turnHuge(): void;
  close(): Promise<void>;
}

/**
 * Answers `good(path)` until turned; a blocking read (`index=` in the query) is held until then.
 * A huge body is written with backpressure, so `sent` counts what the peer really took.
 */
async function startHugeServer(
  good: (path: string) => { body: string; headers?: Record<string, string> },
): Promise<HugeServer> {
  let huge = false;
  let sent = 0;
  const held = new Set<() => void>();
  const chunk = new Uint8Array(64 * 1024).fill(0x5b); // "[[[[" never parses either
  const sendHuge = async (res: ServerResponse) => {
    res.writeHead(200, { "Content-Type": "application/json", "X-Consul-Index": "99" });
    let mine = 0;
    let closed = false;
    res.on("close", () => closed = true);
    for (let n = 0; n < HUGE && !closed; n += chunk.byteLength) {
      const more = res.write(chunk);
      if (!more) {
        await new Promise<void>((r) => {
          res.once("drain", r);
          res.once("close", r);
        });
      }
      if (!closed) mine += chunk.byteLength;
      sent = Math.max(sent, mine);
    }
    res.end();
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (huge) return void sendHuge(res);
    if (url.searchParams.has("index")) {
      const wake = () => {
        held.delete(wake);
        void sendHuge(res);
      };
      held.add(wake);
      res.on("close", () => held.delete(wake));
      return;
    }
    const g = good(url.pathname);
    res.writeHead(200, { "Content-Type": "application/json", ...g.headers });
    res.end(g.body);
  });
  server.requestTimeout = 0;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    sent: () => sent,
    turnHuge() {
      huge = true;
      for (const w of [...held]) w();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const TAGS = ["sluice", "sluice.listener=local:5001"];

type Good = (path: string) => { body: string; headers?: Record<string, string> };

const consulGood: Good = (path) =>
  path === "/v1/health/state/any"
    ? { body: JSON.stringify([{ ServiceName: "web" }]), headers: { "X-Consul-Index": "7" } }
    : {
      body: JSON.stringify([{
        Node: { Node: "n1", Address: "127.0.0.1" },
        Service: { ID: "web-1", Address: "127.0.0.1", Port: 6001, Tags: TAGS },
      }]),
      headers: { "X-Consul-Index": "7" },
    };

const nomadGood: Good = (path) =>
  path === "/v1/services"
    ? {
      body: JSON.stringify([{
        Namespace: "default",
        Services: [{ ServiceName: "web", Tags: TAGS }],
      }]),
      headers: { "X-Nomad-Index": "7" },
    }
    : {
      body: JSON.stringify([{ ID: "a1", Address: "127.0.0.1", Port: 6001, Tags: TAGS }]),
      headers: { "X-Nomad-Index": "7" },
    };

const CASES: {
  kind: string;
  good: Good;
  list: string;
  make(url: string): Provider;
}[] = [
  {
    kind: "consul",
    good: consulGood,
    list: "/v1/health/state/any",
    make: (url) =>
      createConsulProvider({
        rt,
        log: captureLogger(),
        config: {
          address: url,
          token: "",
          datacenter: "",
          namespace: "",
          waitMs: 60_000,
          consistencyMode: "leader",
          tag: "sluice",
          tls: { insecure: false },
          maxBytes: CAP,
        },
        bucket: FAST.bucket,
        pacing: FAST.pacing,
        random: () => 0.5,
      }),
  },
  {
    kind: "nomad",
    good: nomadGood,
    list: "/v1/services",
    make: (url) =>
      createNomadProvider({
        rt,
        log: captureLogger(),
        config: {
          address: url,
          token: "",
          namespace: "default",
          waitMs: 60_000,
          stale: false,
          tag: "sluice",
          tls: { insecure: false },
          maxBytes: CAP,
        },
        bucket: FAST.bucket,
        pacing: FAST.pacing,
        random: () => 0.5,
      }),
  },
];

describe("provider answers over max_bytes", () => {
  for (const c of CASES) {
    it(`${c.kind}: a huge answer is cut at the cap, named, and the last routes stay`, async (t) => {
      const server = await startHugeServer(c.good);
      whenDone(t, () => server.close());
      const p = c.make(server.url);
      whenDone(t, () => p.stop());
      const col = collector();
      p.start((s) => col.onSnapshot(s));
      await waitFor(() => col.snapshots.length === 1, {
        what: "the first snapshot",
        timeoutMs: 10_000,
      });
      assert.deepEqual(view(col.last), ["web local:5001 -> 127.0.0.1:6001"]);

      server.turnHuge();
      const err = await waitFor(
        () => (p.status().state === "failing" ? p.status().lastError : undefined),
        { what: "the provider to fail on the huge answer", timeoutMs: 20_000 },
      );
      assert.match(err, new RegExp(`^${c.kind}: `));
      assert.match(err, new RegExp(`${server.url}${c.list}`.replaceAll(".", "\\.")));
      assert.match(err, /larger than max_bytes \(65536 bytes\)/);
      assert.equal(col.snapshots.length, 1, "no snapshot came from the huge answer");
      assert.equal(p.status().services, 1);
      await p.stop();
      assert.ok(server.sent() < SENT_BOUND, `sent ${server.sent()} bytes, expected a cut read`);
    });
  }

  it("http: the same cap and message for the HTTP provider", async (t) => {
    const server = await startHugeServer(() => ({ body: "" }));
    server.turnHuge();
    whenDone(t, () => server.close());
    const p = createHttpProvider({
      rt,
      log: captureLogger(),
      config: {
        endpoint: `${server.url}/routing.json?token=secret`,
        pollIntervalMs: 60_000,
        pollTimeoutMs: 20_000,
        headers: {},
        maxBytes: CAP,
        tls: { insecure: false },
      },
      backoff: { baseMs: 60_000, maxMs: 60_000 },
    });
    whenDone(t, () => p.stop());
    p.start(() => {});
    const err = await waitFor(() => p.status().lastError, {
      what: "the HTTP provider to fail",
      timeoutMs: 20_000,
    });
    assert.match(err, /larger than max_bytes \(65536 bytes\)/);
    assert.match(err, /\/routing\.json\?…/);
    assert.doesNotMatch(err, /secret/);
    await p.stop();
    assert.ok(server.sent() < SENT_BOUND, `sent ${server.sent()} bytes, expected a cut read`);
  });
});
