// A throwaway PKI for TLS tests, made with the openssl CLI in a temp dir: a CA, a CA:FALSE
// server certificate for 127.0.0.1 and localhost, and a client certificate for mutual TLS.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Pki {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A second, unrelated CA: trusting only it must fail verification. */
  readonly otherCa: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), "sluice-pki-"));
  try {
    const key = (name: string) =>
      openssl(dir, [
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        `${name}.key`,
      ]);
    const selfSigned = (name: string, cn: string) =>
      openssl(dir, [
        "req",
        "-x509",
        "-new",
        "-key",
        `${name}.key`,
        "-subj",
        `/CN=${cn}`,
        "-days",
        "2",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        `${name}.crt`,
      ]);
    const leaf = (name: string, cn: string, ext: string) => {
      key(name);
      openssl(dir, [
        "req",
        "-new",
        "-key",
        `${name}.key`,
        "-subj",
        `/CN=${cn}`,
        "-out",
        `${name}.csr`,
      ]);
      writeFileSync(join(dir, `${name}.ext`), ext);
      openssl(dir, [
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        `${name}.ext`,
        "-out",
        `${name}.crt`,
      ]);
    };
    key("ca");
    selfSigned("ca", "sluice test CA");
    key("other");
    selfSigned("other", "unrelated CA");
    leaf(
      "server",
      "127.0.0.1",
      "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    );
    leaf(
      "client",
      "sluice client",
      "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    );
    const read = (f: string) => readFileSync(join(dir, f), "utf8");
    return {
      ca: read("ca.crt"),
      serverCert: read("server.crt"),
      serverKey: read("server.key"),
      clientCert: read("client.crt"),
      clientKey: read("client.key"),
      otherCa: read("other.crt"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
