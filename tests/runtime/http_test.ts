// serveHttp() and httpClient(): a plain HTTP server with the client address and graceful
// close, and a TLS client that trusts a given CA, skips verification, or presents a client
// certificate, against a local node:https server.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { SluiceError } from "../../src/errors.ts";
import { rt } from "./_helpers.ts";
import { makePki, type Pki } from "./_tls_fixture.ts";
import { delay, within } from "../_support/wait.ts";

describe("serveHttp()", () => {
  it(
    "serves on port 0, reports the client address and closes gracefully",
    { timeout: 10000 },
    async () => {
      let release: () => void = () => {};
      const h = await rt.serveHttp({ host: "127.0.0.1", port: 0 }, async (req, info) => {
        const url = new URL(req.url);
        if (url.pathname === "/slow") await new Promise<void>((r) => (release = r));
        return Response.json({ path: url.pathname, remote: info.remote });
      });
      try {
        assert.ok(h.port > 0);
        assert.equal(h.host, "127.0.0.1");
        const r = await fetch(`http://127.0.0.1:${h.port}/hello`);
        const body = await r.json() as {
          path: string;
          remote: { host: string; port: number; family: number };
        };
        assert.equal(body.path, "/hello");
        assert.equal(body.remote.host, "127.0.0.1");
        assert.equal(body.remote.family, 4);
        assert.ok(body.remote.port > 0);
        // A request in flight is answered before a graceful close completes.
        const slow = fetch(`http://127.0.0.1:${h.port}/slow`, { headers: { connection: "close" } });
        await delay(100);
        let closed = false;
        const closing = h.close().then(() => (closed = true));
        await delay(100);
        assert.equal(closed, false, "close() waits for the request in flight");
        release();
        const sr = await within(slow, 3000, "the slow response");
        assert.equal((await sr.json() as { path: string }).path, "/slow");
        await within(closing, 3000, "the graceful close");
        await assert.rejects(fetch(`http://127.0.0.1:${h.port}/hello`));
      } finally {
        release();
        await h.close({ force: true });
      }
    },
  );

  it("throws EADDRINUSE when the port is taken", async () => {
    const l = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => c.close());
    try {
      await assert.rejects(
        rt.serveHttp({ host: "127.0.0.1", port: l.addr.port }, () => new Response("x")),
        (e: unknown) => e instanceof SluiceError && e.code === "EADDRINUSE",
      );
    } finally {
      l.close();
    }
  });
});

describe("httpClient()", () => {
  let pki: Pki;
  let open: Server; // no client certificate asked
  let strict: Server; // mutual TLS: a client certificate from the CA is required
  let port = 0;
  let strictPort = 0;

  function handler(name: string) {
    return (req: IncomingMessage, res: ServerResponse) => {
      let n = 0;
      req.on("data", (d: Uint8Array) => (n += d.byteLength));
      req.on("end", () => {
        res.setHeader("content-type", "text/plain");
        res.end(`${req.method} ${req.url} server=${name} body=${n}`);
      });
    };
  }

  async function start(s: Server): Promise<number> {
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
    return (s.address() as { port: number }).port;
  }

  before(async () => {
    pki = makePki();
    open = createServer({ key: pki.serverKey, cert: pki.serverCert }, handler("open"));
    strict = createServer(
      {
        key: pki.serverKey,
        cert: pki.serverCert,
        ca: pki.ca,
        requestCert: true,
        rejectUnauthorized: true,
      },
      handler("strict"),
    );
    port = await start(open);
    strictPort = await start(strict);
  });

  after(async () => {
    for (const s of [open, strict]) {
      s.closeAllConnections?.();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  it("verifies the server against a given CA", { timeout: 10000 }, async () => {
    const f = rt.httpClient({ ca: [pki.ca] });
    const r = await f(`https://127.0.0.1:${port}/ca`);
    assert.ok(r instanceof Response);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "GET /ca server=open body=0");
  });

  it(
    "rejects a server its CAs do not vouch for, with a readable error",
    { timeout: 10000 },
    async () => {
      const f = rt.httpClient({ ca: [pki.otherCa] });
      await assert.rejects(f(`https://127.0.0.1:${port}/bad?token=secret`), (e: unknown) => {
        assert.ok(e instanceof SluiceError);
        assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}/bad`));
        assert.doesNotMatch(e.message, /secret/, "no query string (tokens) in errors");
        assert.match(e.message, /cert|issuer|verif|self.signed/i);
        return true;
      });
    },
  );

  it("skips verification when insecure, also for POST bodies", { timeout: 10000 }, async () => {
    const f = rt.httpClient({ insecure: true });
    const r = await f(`https://127.0.0.1:${port}/insecure`, { method: "POST", body: "hello" });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "text/plain");
    assert.equal(await r.text(), "POST /insecure server=open body=5");
  });

  it("presents a client certificate for mutual TLS", { timeout: 10000 }, async () => {
    const f = rt.httpClient({ ca: [pki.ca], cert: pki.clientCert, key: pki.clientKey });
    assert.equal(
      await (await f(`https://127.0.0.1:${strictPort}/mtls`)).text(),
      "GET /mtls server=strict body=0",
    );
    const fi = rt.httpClient({ insecure: true, cert: pki.clientCert, key: pki.clientKey });
    assert.equal(
      await (await fi(`https://127.0.0.1:${strictPort}/mtls2`)).text(),
      "GET /mtls2 server=strict body=0",
    );
    // Without the certificate the server refuses the handshake.
    await assert.rejects(
      rt.httpClient({ ca: [pki.ca] })(`https://127.0.0.1:${strictPort}/none`),
      SluiceError,
    );
  });

  it("normalises a refused connection to ECONNREFUSED", { timeout: 10000 }, async () => {
    const l = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => c.close());
    const free = l.addr.port;
    l.close();
    await delay(10);
    for (
      const f of [
        rt.httpClient(),
        rt.httpClient({ ca: [pki.ca] }),
        rt.httpClient({ insecure: true }),
      ]
    ) {
      await assert.rejects(
        f(`https://127.0.0.1:${free}/`),
        (e: unknown) => e instanceof SluiceError && e.code === "ECONNREFUSED",
      );
    }
  });

  it("normalises a timeout signal to ETIMEDOUT", { timeout: 10000 }, async () => {
    const h = await rt.serveHttp({ host: "127.0.0.1", port: 0 }, async () => {
      await delay(2000);
      return new Response("late");
    });
    try {
      await assert.rejects(
        rt.httpClient()(`http://127.0.0.1:${h.port}/`, { signal: AbortSignal.timeout(200) }),
        (e: unknown) => e instanceof SluiceError && e.code === "ETIMEDOUT",
      );
    } finally {
      await h.close({ force: true });
    }
  });
});
