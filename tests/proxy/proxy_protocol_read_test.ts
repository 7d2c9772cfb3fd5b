// Reading a PROXY header off a connection (split across writes, payload in the same segment,
// timeouts), and interop with HAProxy `accept-proxy` / `send-proxy(-v2)`.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import {
  encodeProxyV1,
  encodeProxyV2,
  encodeProxyV2Local,
  readProxyHeader,
} from "../../src/proxy/proxy_protocol.ts";
import { SluiceError } from "../../src/errors.ts";
import type { Conn, Runtime, SockAddr } from "../../src/runtime/types.ts";
import {
  canConnect,
  freePort,
  readAll,
  runtime,
  startServer,
  tempDir,
  type TestServer,
} from "../_support/helpers.ts";
import { delay, waitFor } from "../_support/wait.ts";

const enc = new TextEncoder();

const v4 = (host: string, port: number): SockAddr => ({ host, port, family: 4 });
const v6 = (host: string, port: number): SockAddr => ({ host, port, family: 6 });

/** A Conn fed from a list of chunks; records what is given back. */
function fakeConn(chunks: (Uint8Array | null | "hang")[]): Conn & { unshifted: Uint8Array[] } {
  const unshifted: Uint8Array[] = [];
  const a = v4("127.0.0.1", 1);
  return {
    remote: a,
    local: a,
    unshifted,
    setNoDelay() {},
    setKeepAlive() {},
    read(o?: { signal?: AbortSignal }) {
      const next = chunks.shift();
      if (next === "hang" || next === undefined) {
        return new Promise((_, reject) => {
          o?.signal?.addEventListener(
            "abort",
            () => reject(new SluiceError("ABORTED", "read aborted")),
            { once: true },
          );
        });
      }
      return Promise.resolve(next);
    },
    unshift(c) {
      unshifted.push(c);
    },
    write: () => Promise.resolve(),
    closeWrite: () => Promise.resolve(),
    close() {},
  };
}

describe("readProxyHeader", () => {
  it("reads a header split across chunks and gives back the payload that followed it", async () => {
    const h = encodeProxyV2(v4("203.0.113.9", 40000), v4("10.0.0.1", 5432));
    const tail = enc.encode("hello");
    const second = new Uint8Array(h.length - 10 + tail.length);
    second.set(h.subarray(10));
    second.set(tail, h.length - 10);
    const c = fakeConn([h.subarray(0, 3), h.subarray(3, 10), second]);
    assert.deepEqual(await readProxyHeader(c, { timeoutMs: 1000 }), {
      src: v4("203.0.113.9", 40000),
      dst: v4("10.0.0.1", 5432),
    });
    assert.deepEqual(c.unshifted, [tail]);
  });

  it("gives nothing back when the header ends exactly at a chunk boundary", async () => {
    const c = fakeConn([enc.encode("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")]);
    assert.deepEqual(await readProxyHeader(c, { timeoutMs: 1000 }), {
      src: v4("1.2.3.4", 1),
      dst: v4("5.6.7.8", 2),
    });
    assert.deepEqual(c.unshifted, []);
  });

  it("returns no addresses for LOCAL", async () => {
    const c = fakeConn([encodeProxyV2Local()]);
    assert.deepEqual(await readProxyHeader(c, { timeoutMs: 1000 }), {});
  });

  it("throws PROXY_PROTOCOL when no header arrives in time", async () => {
    const c = fakeConn([enc.encode("PROXY TCP4 1.2"), "hang"]);
    await assert.rejects(readProxyHeader(c, { timeoutMs: 50 }), (e: unknown) => {
      assert.ok(e instanceof SluiceError && e.code === "PROXY_PROTOCOL");
      assert.match(e.message, /within 50ms \(got 14 bytes\)/);
      return true;
    });
  });

  it("throws PROXY_PROTOCOL when the peer closes mid-header", async () => {
    const c = fakeConn([enc.encode("PROXY TCP4"), null]);
    await assert.rejects(readProxyHeader(c, { timeoutMs: 1000 }), /closed after 10 bytes/);
  });

  it("throws PROXY_PROTOCOL on a client that speaks without a header", async () => {
    const c = fakeConn([enc.encode("SSH-2.0-OpenSSH_9.6\r\n")]);
    await assert.rejects(readProxyHeader(c, { timeoutMs: 1000 }), { code: "PROXY_PROTOCOL" });
  });
});

// Interop with a real implementation: our header goes into HAProxy `accept-proxy`, HAProxy
// sends its own header onwards (`send-proxy` / `send-proxy-v2`) to a server that decodes it
// with readProxyHeader. The address we encoded must come out the other side, and the payload
// after the header must arrive intact.
const haproxy = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"].find((p) => existsSync(p));

describe(
  "PROXY protocol through HAProxy",
  { skip: haproxy ? false : "haproxy is not installed" },
  () => {
    let rt: Runtime;
    let child: ChildProcess | undefined;
    let dir: { path: string; remove(): Promise<void> } | undefined;
    let server: TestServer | undefined;
    const ports = { v1out: 0, v2out: 0 };
    const seen: { src?: SockAddr; dst?: SockAddr; payload: string }[] = [];

    before(async () => {
      rt = await runtime();
      server = startServer(rt, async (c) => {
        try {
          const h = await readProxyHeader(c, { timeoutMs: 3000 });
          const payload = await readAll(c, { timeoutMs: 3000 });
          seen.push({ ...h, payload });
          await c.write(enc.encode("seen"));
        } finally {
          c.close();
        }
      });
      ports.v1out = await freePort(rt);
      ports.v2out = await freePort(rt);
      dir = await tempDir("sluice-haproxy-");
      const conf = `
global
  maxconn 64
defaults
  mode tcp
  timeout connect 3s
  timeout client 10s
  timeout server 10s
frontend to_v1
  bind 127.0.0.1:${ports.v1out} accept-proxy
  default_backend send_v1
frontend to_v2
  bind 127.0.0.1:${ports.v2out} accept-proxy
  default_backend send_v2
backend send_v1
  server s 127.0.0.1:${server.port} send-proxy
backend send_v2
  server s 127.0.0.1:${server.port} send-proxy-v2
`;
      const file = join(dir.path, "haproxy.cfg");
      await writeFile(file, conf);
      const check = spawnSync(haproxy!, ["-c", "-f", file], { encoding: "utf8" });
      assert.equal(check.status, 0, check.stdout + check.stderr);
      child = spawn(haproxy!, ["-db", "-f", file], { stdio: "ignore" });
      await waitFor(
        async () => (await canConnect(rt, ports.v1out)) && (await canConnect(rt, ports.v2out)),
        {
          timeoutMs: 10_000,
          what: "haproxy to listen",
        },
      );
    });

    after(async () => {
      if (child?.pid && child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, "SIGTERM");
        const c = child;
        await waitFor(() => c.exitCode !== null || c.signalCode !== null, {
          timeoutMs: 5000,
          what: "haproxy to exit",
        })
          .catch(() => process.kill(c.pid!, "SIGKILL"));
      }
      server?.close();
      await dir?.remove();
    });

    async function through(port: number, header: Uint8Array, payload: string) {
      const before = seen.length;
      const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 3000 });
      try {
        const first = new Uint8Array(header.length + 5);
        first.set(header);
        first.set(enc.encode(payload.slice(0, 5)), header.length);
        await c.write(first);
        await delay(20);
        await c.write(enc.encode(payload.slice(5)));
        await c.closeWrite();
        assert.equal(await readAll(c, { timeoutMs: 5000 }), "seen");
      } finally {
        c.close();
      }
      await waitFor(() => seen.length > before, { timeoutMs: 5000, what: "the server to decode" });
      return seen[before]!;
    }

    const cases: [string, SockAddr, SockAddr][] = [
      ["IPv4", v4("203.0.113.7", 4242), v4("198.51.100.1", 5432)],
      ["IPv6", v6("2001:db8::7", 65000), v6("2001:db8:1::1", 443)],
    ];
    for (const [fam, src, dst] of cases) {
      for (const [inName, encode] of [["v1", encodeProxyV1], ["v2", encodeProxyV2]] as const) {
        for (const out of ["v1", "v2"] as const) {
          it(
            `our ${inName} ${fam} header is accepted by HAProxy, and its ${out} header decodes to the same addresses`,
            {
              timeout: 15_000,
            },
            async () => {
              const got = await through(
                out === "v1" ? ports.v1out : ports.v2out,
                encode(src, dst),
                "hello, backend",
              );
              assert.deepEqual(got, { src, dst, payload: "hello, backend" });
            },
          );
        }
      }
    }

    it(
      "a LOCAL header makes HAProxy use the real connection addresses",
      { timeout: 15_000 },
      async () => {
        const got = await through(ports.v2out, encodeProxyV2Local(), "local check");
        assert.equal(got.src?.host, "127.0.0.1");
        assert.equal(got.dst?.host, "127.0.0.1");
        assert.equal(got.dst?.port, ports.v2out);
        assert.equal(got.payload, "local check");
      },
    );
  },
);
