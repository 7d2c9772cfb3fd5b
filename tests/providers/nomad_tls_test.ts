// The Nomad provider over mutual TLS with a throwaway CA (Nomad's verify_https_client).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNomadProvider } from "../../src/providers/nomad.ts";
import { startNomadEmulator } from "../_support/nomad_emulator.ts";
import { captureLogger, collector, FAST, view } from "./_harness.ts";
import { nomadConfig as config, rt } from "./_setup.ts";
import { waitFor } from "../_support/wait.ts";
import { whenDone } from "../_support/cleanup.ts";

describe("nomad provider over TLS", { timeout: 30_000 }, () => {
  it("speaks mutual TLS with a CA, a client certificate and key", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-nomad-tls-"));
    whenDone(t, () => rmSync(dir, { recursive: true, force: true }));
    const ssl = (...args: string[]) => {
      const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
    };
    try {
      ssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
      );
    } catch (err) {
      // No openssl: nothing to test with (install_peers.sh lists it).
      assert.fail(`openssl is needed for this test: ${err}`);
    }
    writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
    ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=server.global.nomad",
    );
    ssl(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "2",
      "-extfile",
      "server.ext",
    );
    ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "client.key",
      "-out",
      "client.csr",
      "-subj",
      "/CN=sluice",
    );
    ssl(
      "x509",
      "-req",
      "-in",
      "client.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "client.pem",
      "-days",
      "2",
      "-extfile",
      "client.ext",
    );
    const pem = (f: string) => readFileSync(join(dir, f), "utf8");

    const emu = await startNomadEmulator({
      jitter: false,
      tls: {
        key: pem("server.key"),
        cert: pem("server.pem"),
        ca: pem("ca.pem"),
        requireClientCert: true,
      },
    });
    whenDone(t, () => emu.close());
    emu.register({
      id: "a1",
      name: "api",
      address: "127.0.0.1",
      port: 9001,
      tags: ["sluice", "sluice.listener=local:5001"],
    });
    assert.match(emu.url, /^https:/);

    const log = captureLogger();
    const good = createNomadProvider({
      rt,
      config: config(emu.url, {
        tls: {
          ca: pem("ca.pem"),
          cert: pem("client.pem"),
          key: pem("client.key"),
          insecure: false,
        },
      }),
      log,
      ...FAST,
    });
    whenDone(t, () => good.stop());
    const c = collector();
    good.start((s) => c.onSnapshot(s));
    await waitFor(() => c.snapshots.length === 1, { what: "snapshot over mTLS", timeoutMs: 8000 });
    assert.deepEqual(view(c.last), ["api local:5001 -> 127.0.0.1:9001"]);

    // Without a client certificate the server refuses the handshake.
    const bad = createNomadProvider({
      rt,
      config: config(emu.url, { tls: { ca: pem("ca.pem"), insecure: false } }),
      log: captureLogger(),
      ...FAST,
    });
    whenDone(t, () => bad.stop());
    bad.start(() => assert.fail("no snapshot without a client certificate"));
    await waitFor(() => bad.status().lastError, { what: "handshake refused", timeoutMs: 8000 });
    assert.equal(bad.status().state, "failing");
  });
});
