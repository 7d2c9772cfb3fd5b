// Routing by TLS server name end to end (issue 16), against sluice as a process: three real TLS
// servers (`openssl s_server`, a certificate each) behind one sluice port, reached by
// `openssl s_client -servername` and curl, each client seeing its own server's certificate;
// wildcard and default routing; a plain-TCP client on the default; a ClientHello dribbled one
// byte per 10 ms; a stalled one closed after sni_timeout and counted in /metrics; and routing
// edits on the shared port that close neither the port nor the open connections.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Conn, Runtime } from "../../src/runtime/types.ts";
import {
  bytes,
  canConnect,
  freePort,
  runtime,
  startServer,
  tempDir,
  type TestServer,
} from "../_support/helpers.ts";
import { delay, waitFor, within } from "../_support/wait.ts";
import { parseExposition, valueOf } from "../admin/_prom.ts";
import { type SluiceFixture, startSluiceFixture } from "./_sluice_fixture.ts";

const OPENSSL = spawnSync("openssl", ["version"]).status === 0;
const CURL = spawnSync("curl", ["--version"]).status === 0;
const FIXTURES = join(
  import.meta.dirname ?? new URL(".", import.meta.url).pathname,
  "../proxy/sni/fixtures",
);
/** A TLS 1.2 ClientHello from openssl naming db.example.com (its Certificate comes back clear). */
const HELLO_DB = new Uint8Array(readFileSync(join(FIXTURES, "openssl_tls12_sni.bin")));
const dec = new TextDecoder();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with stdin closed, bounded in time; the child is killed by its PID. */
function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => stdout += String(d));
    child.stderr.on("data", (d) => stderr += String(d));
    child.stdin.end();
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The subject CN of the certificate `openssl s_client` printed. */
async function sClientCn(port: number, servername: string | undefined): Promise<string> {
  const args = ["s_client", "-connect", `127.0.0.1:${port}`];
  args.push(...(servername === undefined ? ["-noservername"] : ["-servername", servername]));
  const r = await run("openssl", args);
  const m = /^subject=.*?CN\s*=\s*([^,\n]+)/m.exec(r.stdout);
  assert.ok(m, `no subject in s_client output (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return m[1]!.trim();
}

interface TlsServer {
  readonly port: number;
  readonly pid: number;
  stop(): void;
}

async function startTlsServer(rt: Runtime, dir: string, cn: string): Promise<TlsServer> {
  const tag = cn.replace("*", "star");
  const cert = join(dir, `${tag}.crt`);
  const key = join(dir, `${tag}.key`);
  const r = spawnSync("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-days", "2", "-subj", `/CN=${cn}`, "-addext", `subjectAltName=DNS:${cn}`],
    ...["-keyout", key, "-out", cert],
  ], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl req: ${r.stderr}`);
  const port = await freePort(rt);
  const child = spawn("openssl", [
    ...["s_server", "-accept", `127.0.0.1:${port}`, "-cert", cert, "-key", key],
    ...["-www", "-quiet"],
  ], { stdio: ["ignore", "ignore", "ignore"] });
  const pid = child.pid!;
  await waitFor(() => canConnect(rt, port), { timeoutMs: 15_000, what: `s_server for ${cn}` });
  return {
    port,
    pid,
    stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, "SIGKILL");
    },
  };
}

/** Writes `name:` to each client, then echoes: tells which backend took a connection. */
function startTaggedEcho(rt: Runtime, name: string): TestServer {
  return startServer(rt, async (c) => {
    await c.write(bytes(`${name}:`));
    for (;;) {
      const chunk = await c.read();
      if (chunk === null) break;
      await c.write(chunk);
    }
    c.close();
  });
}

/** Reads until `n` bytes arrived (bounded); what arrived. */
async function readBytes(c: Conn, n: number, timeoutMs = 10_000): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(timeoutMs);
  const parts: Uint8Array[] = [];
  let got = 0;
  for (let i = 0; i < 10_000 && got < n; i++) {
    const chunk = await c.read({ signal });
    if (chunk === null) throw new Error(`closed after ${got} of ${n} bytes`);
    parts.push(chunk);
    got += chunk.length;
  }
  const out = new Uint8Array(got);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

async function echoes(c: Conn, text: string): Promise<string> {
  await c.write(bytes(text));
  return dec.decode(await readBytes(c, text.length));
}

let rt: Runtime;
before(async () => {
  rt = await runtime();
});

describe("routing by TLS server name (e2e)", {
  skip: OPENSSL ? false : "openssl is not installed",
}, () => {
  let sluice: SluiceFixture;
  let dir: { path: string; remove(): Promise<void> };
  const tls: Record<string, TlsServer> = {};
  let plain: TestServer;
  let tagged: TestServer;
  let newer: TestServer;
  let portA = 0;
  let portB = 0;
  const keyA = () => `127.0.0.1:${portA}`;
  const keyB = () => `127.0.0.1:${portB}`;

  /**
   * Port A (sni_timeout 30 s, for the dribble): three TLS servers. Port B (sni_timeout 1 s): a
   * TLS name and a plain default, both tagged echoes.
   */
  function routing(o: { withNew?: boolean; withDb?: boolean } = {}): string {
    const svc = (name: string, listener: number, backend: number, extra = "") =>
      `[[services]]\nname = "${name}"\nlistener = "local:${listener}"\n` +
      `backends = ["127.0.0.1:${backend}"]\n${extra}\n`;
    return [
      svc("db", portA, tls.db!.port, 'sni = ["DB.example.com."]\nsni_timeout = "30s"'),
      svc("apps", portA, tls.apps!.port, 'sni = ["*.apps.example.com"]'),
      svc("fallback", portA, tls.fallback!.port),
      (o.withDb ?? true) ? svc("b-db", portB, tagged.port, 'sni = ["db.example.com"]') : "",
      o.withNew ? svc("b-new", portB, newer.port, 'sni = ["ne.example.com"]') : "",
      svc("b-plain", portB, plain.port, 'sni_timeout = "1s"'),
    ].join("\n");
  }

  before(async () => {
    dir = await tempDir("sluice-sni-");
    tls.db = await startTlsServer(rt, dir.path, "db.example.com");
    tls.apps = await startTlsServer(rt, dir.path, "*.apps.example.com");
    tls.fallback = await startTlsServer(rt, dir.path, "default.example.com");
    plain = startTaggedEcho(rt, "plain");
    tagged = startTaggedEcho(rt, "tls");
    newer = startTaggedEcho(rt, "new");
    portA = await freePort(rt);
    portB = await freePort(rt);
    sluice = await startSluiceFixture({ rt, routing: routing() });
    await sluice.waitListening([keyA(), keyB()]);
  });

  after(async () => {
    await sluice?.stop();
    for (const s of Object.values(tls)) s.stop();
    plain?.close();
    tagged?.close();
    newer?.close();
    await dir?.remove();
  });

  it("openssl s_client reaches the server its name routes to, and sees that certificate", async () => {
    assert.equal(await sClientCn(portA, "db.example.com"), "db.example.com");
    assert.equal(await sClientCn(portA, "DB.EXAMPLE.COM"), "db.example.com");
    assert.equal(await sClientCn(portA, "web.apps.example.com"), "*.apps.example.com");
    // A wildcard stands for one label: deeper names and unknown names go to the default.
    assert.equal(await sClientCn(portA, "a.b.apps.example.com"), "default.example.com");
    assert.equal(await sClientCn(portA, "other.example.org"), "default.example.com");
    assert.equal(await sClientCn(portA, undefined), "default.example.com");
  });

  it("curl --resolve reaches the right server", { skip: CURL ? false : "no curl" }, async () => {
    for (
      const [name, cn] of [["db.example.com", "db.example.com"], [
        "x.apps.example.com",
        "*.apps.example.com",
      ]]
    ) {
      const r = await run("curl", [
        ...["-sk", "-v", "--max-time", "15", "--resolve", `${name}:${portA}:127.0.0.1`],
        `https://${name}:${portA}/`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const m = /subject: .*?CN\s*=\s*([^;,\n]+)/.exec(r.stderr);
      assert.equal(m?.[1]?.trim(), cn, r.stderr);
    }
  });

  it("a plain-TCP client reaches the default service, its bytes intact", async () => {
    const c = await rt.connect({ host: "127.0.0.1", port: portB, timeoutMs: 5000 });
    try {
      await c.write(bytes("hello"));
      assert.equal(dec.decode(await readBytes(c, "plain:hello".length)), "plain:hello");
    } finally {
      c.close();
    }
  });

  it("a ClientHello dribbled one byte per 10 ms is routed, and replayed unchanged", async () => {
    // To a real TLS server: its Certificate (clear in TLS 1.2) names the right server.
    const c = await rt.connect({ host: "127.0.0.1", port: portA, timeoutMs: 5000 });
    try {
      for (const b of HELLO_DB) {
        await c.write(Uint8Array.of(b));
        await delay(10);
      }
      let seen = "";
      await within(
        (async () => {
          while (!seen.includes("db.example.com")) {
            const chunk = await c.read({ signal: AbortSignal.timeout(10_000) });
            if (chunk === null) break;
            seen += dec.decode(chunk);
          }
        })(),
        15_000,
        "the server's reply",
      );
      assert.ok(seen.includes("db.example.com"), "the db server's certificate came back");
      assert.ok(!seen.includes("default.example.com"));
    } finally {
      c.close();
    }
    // To an echo: the backend received exactly the client's bytes.
    const e = await rt.connect({ host: "127.0.0.1", port: portB, timeoutMs: 5000 });
    try {
      await e.write(HELLO_DB);
      const got = await readBytes(e, 4 + HELLO_DB.length);
      assert.equal(dec.decode(got.subarray(0, 4)), "tls:");
      assert.deepEqual(got.subarray(4), HELLO_DB);
    } finally {
      e.close();
    }
  });

  it("a client that sends 3 bytes and stalls is closed after sni_timeout and counted", async () => {
    const before = parseExposition(await sluice.metrics());
    const was = valueOf(before, "sluice_sni_timeouts_total", { listener: keyB() });
    const c = await rt.connect({ host: "127.0.0.1", port: portB, timeoutMs: 5000 });
    try {
      await c.write(Uint8Array.of(0x16, 0x03, 0x01));
      // sni_timeout is 1 s on port B; the bound only keeps a broken build from hanging the suite.
      const end = await within(
        c.read({ signal: AbortSignal.timeout(20_000) }).catch(() => null),
        25_000,
        "sluice closing a stalled client",
      );
      assert.equal(end, null);
    } finally {
      c.close();
    }
    await waitFor(async () => {
      const s = parseExposition(await sluice.metrics());
      return valueOf(s, "sluice_sni_timeouts_total", { listener: keyB() }) === was + 1;
    }, { timeoutMs: 10_000, what: "the timeout counted in /metrics" });
  });

  it("adding and removing SNI services closes neither the port nor open connections", async () => {
    const open = async (hello: Uint8Array | undefined, tag: string) => {
      const c = await rt.connect({ host: "127.0.0.1", port: portB, timeoutMs: 5000 });
      await c.write(hello ?? bytes("x"));
      const n = tag.length + 1 + (hello ? hello.length : 1);
      assert.equal(dec.decode((await readBytes(c, n)).subarray(0, tag.length + 1)), `${tag}:`);
      return c;
    };
    const plainConn = await open(undefined, "plain");
    const tlsConn = await open(HELLO_DB, "tls");
    const step = async (text: string, want: (services: string[]) => boolean, what: string) => {
      await sluice.writeRouting(text);
      await waitFor(async () => {
        const l = (await sluice.listeners()).find((x) => x.address === keyB());
        return l !== undefined && l.state === "listening" &&
          want((l as unknown as { services: string[] }).services);
      }, { timeoutMs: 20_000, what });
      assert.equal(await echoes(plainConn, "still"), "still", `plain connection after ${what}`);
      assert.equal(await echoes(tlsConn, "there"), "there", `routed connection after ${what}`);
      // New connections are taken as the new routing says.
      const fresh = await open(undefined, "plain");
      fresh.close();
    };
    try {
      await step(routing({ withNew: true }), (s) => s.includes("b-new"), "adding b-new");
      const n = await rt.connect({ host: "127.0.0.1", port: portB, timeoutMs: 5000 });
      try {
        // A ClientHello naming ne.example.com: HELLO_DB with its name swapped (same length).
        await n.write(swapName(HELLO_DB, "db.example.com", "ne.example.com"));
        const got = await readBytes(n, 4);
        assert.equal(dec.decode(got.subarray(0, 4)), "new:");
      } finally {
        n.close();
      }
      await step(
        routing({ withNew: false, withDb: false }),
        (s) => !s.includes("b-db"),
        "removing every SNI service",
      );
      await step(routing(), (s) => s.includes("b-db"), "adding b-db back");
      // The port itself was never closed and reopened between the polls above.
      const mine = sluice.sluice.lines.filter((l) => l.includes(keyB()));
      assert.equal(mine.filter((l) => l.includes("listener opened")).length, 1, mine.join("\n"));
      assert.ok(!mine.some((l) => l.includes("listener closed")), mine.join("\n"));
    } finally {
      plainConn.close();
      tlsConn.close();
    }
  });
});

/** `wire` with the ASCII `from` replaced by `to` (same length), e.g. a server name. */
function swapName(wire: Uint8Array, from: string, to: string): Uint8Array {
  assert.equal(from.length, to.length);
  const f = bytes(from);
  let i = -1;
  for (let at = 0; at + f.length <= wire.length && i < 0; at++) {
    if (f.every((b, k) => wire[at + k] === b)) i = at;
  }
  assert.ok(i >= 0, `"${from}" not in the ClientHello`);
  const out = wire.slice();
  out.set(bytes(to), i);
  return out;
}
