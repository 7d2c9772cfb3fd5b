// A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate, made
// with the openssl CLI, for TLS and mutual-TLS tests. PEM text, not paths.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

/** Throws with openssl's message when openssl is missing or fails. */
export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "sluice-certs-"));
  try {
    const ssl = (...args: string[]) => {
      const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr || r.error}`);
    };
    const sign = (name: string, subject: string, ext: string) => {
      writeFileSync(join(dir, `${name}.ext`), ext);
      ssl(
        ...["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`],
        ...["-out", `${name}.csr`, "-subj", subject],
      );
      ssl(
        ...["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key"],
        ...["-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", `${name}.ext`],
      );
    };
    ssl(
      ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem"],
      ...["-days", "2", "-subj", "/CN=sluice-test-ca"],
    );
    sign("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    sign("client", "/CN=sluice", "extendedKeyUsage=clientAuth\n");
    const pem = (f: string) => readFileSync(join(dir, f), "utf8");
    return {
      ca: pem("ca.pem"),
      serverCert: pem("server.pem"),
      serverKey: pem("server.key"),
      clientCert: pem("client.pem"),
      clientKey: pem("client.key"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
