// Data integrity under routing churn and SIGHUP storms (issue 12, fault suite): parallel
// connections stream random bytes both ways through sluice, hashed with SHA-256 at both ends,
// while the routing file is rewritten again and again (other listeners added and removed, the
// busy listener's pool changed and changed back, half-saved documents that do not parse) and
// SIGHUPs arrive. Half-close both ways is part of it: some clients end their send early and
// still receive the rest; some backends end theirs early and still receive the rest. Every
// byte must arrive, and every connection must end with a clean FIN in both directions.
//
// The attack ran 200 connections moving 10.7 GiB each way through 50 rewrites and 20
// SIGHUPs; this case runs 16 connections through 14 rewrites (3 of them followed by a broken
// save) and 19 SIGHUPs, 15 of them back to back (a few hundred MiB at most, paced), so that it
// fits the suite's time budget on a loaded 2-core machine.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Conn, Runtime } from "../../src/runtime/types.ts";
import {
  freePort,
  runtime,
  startEchoServer,
  startServer,
  type TestServer,
} from "../_support/helpers.ts";
import { LO4, randomBytes, service, sha256, type Sluice, startSluice } from "./_support.ts";
import { delay, waitFor, within } from "../_support/wait.ts";

const CONNECTIONS = 16;
const REWRITES = 14;
const SIGHUP_EVERY = 3;
/** SIGHUPs sent back to back at the end of the churn. */
const STORM = 15;
const EXTRA_LISTENERS = 4;
/** Random source: writes are slices of it at random offsets (cheaper than fresh randomness). */
const POOL = randomBytes(1 << 20);
const TAIL = 256 * 1024;

let rt: Runtime;

interface Side {
  bytes: number;
  hash: string;
}
interface BackendRecord {
  received: Side;
  sent: Side;
}

/** A random slice of POOL between 1 and 48 KiB (copied: the writer may keep it). */
function piece(): Uint8Array {
  const len = 1 + Math.floor(Math.random() * 48 * 1024);
  const off = Math.floor(Math.random() * (POOL.length - len));
  return POOL.slice(off, off + len);
}

/** Streams pieces until `until()` is true, then `extra` bytes more; returns what it sent. */
async function stream(c: Conn, until: () => boolean, extra: number): Promise<Side> {
  const h = sha256();
  let bytes = 0;
  for (let i = 0; i < 1_000_000 && !until(); i++) {
    const p = piece();
    h.update(p);
    bytes += p.length;
    await c.write(p);
    await delay(8); // paced: the point is to span the churn, not to saturate the machine
  }
  for (let left = extra; left > 0;) {
    const p = piece().subarray(0, left);
    h.update(p);
    bytes += p.length;
    left -= p.length;
    await c.write(p);
  }
  return { bytes, hash: h.digest("hex") };
}

/** Reads to FIN, hashing; throws on a reset or after 60 s without a byte. */
async function drain(c: Conn): Promise<Side> {
  const h = sha256();
  let bytes = 0;
  for (;;) {
    const chunk = await c.read({ signal: AbortSignal.timeout(60_000) });
    if (chunk === null) break;
    h.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, hash: h.digest("hex") };
}

/** Reads the 4-byte connection id; gives any bytes after it back to the connection. */
async function readId(c: Conn): Promise<number> {
  let buf = new Uint8Array(0);
  for (let i = 0; i < 100 && buf.length < 4; i++) {
    const chunk = await c.read({ signal: AbortSignal.timeout(30_000) });
    if (chunk === null) throw new Error("closed before the id");
    const merged = new Uint8Array(buf.length + chunk.length);
    merged.set(buf);
    merged.set(chunk, buf.length);
    buf = merged;
  }
  if (buf.length > 4) c.unshift(buf.slice(4));
  return new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0);
}

/** 0: the client ends its send early; 1: the backend ends its send early; 2: both at the end. */
const mode = (id: number) => id % 3;

describe("integrity under routing churn and SIGHUP storms", () => {
  let a: TestServer, b: TestServer, echo: TestServer;
  let s: Sluice;
  let busy = 0;
  const extras: number[] = [];
  const records = new Map<number, BackendRecord>();
  let churnOver = false;
  let earlyOver = false;

  /** Backend: reads the id, then streams both ways; hashes what it sent and what it got. */
  function hashServer(): TestServer {
    return startServer(rt, async (c) => {
      const id = await readId(c);
      let readDone = false;
      const reading = drain(c).then((r) => {
        readDone = true;
        return r;
      });
      const sent = await stream(
        c,
        () => (mode(id) === 1 ? earlyOver : churnOver && readDone),
        TAIL,
      );
      await c.closeWrite();
      const received = await reading;
      records.set(id, { received, sent });
      c.close();
    });
  }

  before(async () => {
    rt = await runtime();
    a = hashServer();
    b = hashServer();
    echo = startEchoServer(rt);
    busy = await freePort(rt);
    for (let i = 0; i < EXTRA_LISTENERS; i++) extras.push(await freePort(rt));
    s = await startSluice({ rt, routing: service("busy", busy, [`${LO4}:${a.port}`]) });
    await s.waitListening([`${LO4}:${busy}`]);
  });
  after(async () => {
    await s?.stop();
    a?.close();
    b?.close();
    echo?.close();
  });

  it(`${CONNECTIONS} streams both ways through ${REWRITES} rewrites and SIGHUPs`, {
    timeout: 150_000,
  }, async () => {
    const clients = await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, id) => {
        const c = await rt.connect({ host: LO4, port: busy, timeoutMs: 10_000 });
        const head = new Uint8Array(4);
        new DataView(head.buffer).setUint32(0, id);
        await c.write(head);
        return { id, c };
      }),
    );
    const runs = clients.map(({ id, c }) => {
      const received = drain(c);
      const sent = stream(c, () => (mode(id) === 0 ? earlyOver : churnOver), 0).then(
        async (side) => {
          await c.closeWrite();
          return side;
        },
      );
      return Promise.all([sent, received]).finally(() => c.close());
    });
    const outcome = Promise.allSettled(runs);

    // The churn: other listeners come and go, the busy pool changes and changes back, SIGHUPs.
    let hups = 0;
    let broken = 0;
    for (let i = 0; i < REWRITES; i++) {
      const present = extras.filter((_, k) => (i + k) % 2 === 0);
      const pool = i % 4 < 2 ? [`${LO4}:${a.port}`] : [`${LO4}:${a.port}`, `${LO4}:${b.port}`];
      const doc = service("busy", busy, pool, i % 5 === 4 ? `balance = "least_conn"` : "") +
        present.map((p) => service(`extra-${p}`, p, [`${LO4}:${echo.port}`])).join("");
      await s.writeRouting(doc);
      await s.waitListening([`${LO4}:${busy}`, ...present.map((p) => `${LO4}:${p}`)]);
      if (i % 5 === 2) {
        // A save that does not parse: rejected with line and column, the routes stay.
        const logged = s.proc.lines.length;
        await s.writeRouting(doc + `[[services]]\nname = "half-saved\n`);
        await waitFor(
          () => s.proc.lines.slice(logged).some((l) => /routing\.toml:\d+:\d+/.test(l)),
          { timeoutMs: 15_000, what: "the located parse error in the log" },
        );
        broken++;
        await s.waitListening([`${LO4}:${busy}`, ...present.map((p) => `${LO4}:${p}`)]);
      }
      if (i % SIGHUP_EVERY === SIGHUP_EVERY - 1) {
        s.proc.signal("SIGHUP");
        hups++;
      }
      if (i === Math.floor(REWRITES / 3)) earlyOver = true;
      await delay(150);
    }
    // A storm: SIGHUPs back to back while the streams still run.
    for (let k = 0; k < STORM; k++) {
      s.proc.signal("SIGHUP");
      hups++;
      await delay(25);
    }
    await s.waitListening([`${LO4}:${busy}`]);
    churnOver = true;

    const settled = await within(outcome, 90_000, "every stream to end");
    const failures = settled.flatMap((r, id) =>
      r.status === "rejected" ? [`connection ${id}: ${r.reason}`] : []
    );
    assert.deepEqual(failures, [], "no connection broken");
    await waitFor(() => records.size === CONNECTIONS, {
      timeoutMs: 30_000,
      what: "every backend connection to finish",
    });
    let moved = 0;
    settled.forEach((r, id) => {
      if (r.status !== "fulfilled") return;
      const [clientSent, clientReceived] = r.value;
      const rec = records.get(id)!;
      assert.equal(rec.received.bytes, clientSent.bytes, `connection ${id}: bytes up`);
      assert.equal(rec.received.hash, clientSent.hash, `connection ${id}: sha256 up`);
      assert.equal(clientReceived.bytes, rec.sent.bytes, `connection ${id}: bytes down`);
      assert.equal(clientReceived.hash, rec.sent.hash, `connection ${id}: sha256 down`);
      assert.ok(rec.sent.bytes > TAIL, `connection ${id}: the backend streamed`);
      moved += clientSent.bytes + clientReceived.bytes;
    });
    assert.ok(hups >= 4 + STORM, "SIGHUPs were sent");
    assert.ok(broken >= 2, "broken documents were saved");
    assert.ok(moved > CONNECTIONS * TAIL, `moved ${moved} bytes`);
    await s.waitIdle(`${LO4}:${busy}`);
    // And the process is still serving after the storm.
    const l = await s.listener(`${LO4}:${busy}`);
    assert.equal(l.state, "listening");
    assert.ok(l.total_connections >= CONNECTIONS);
  });
});
