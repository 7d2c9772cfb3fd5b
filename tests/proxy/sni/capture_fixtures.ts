// Records real ClientHellos into tests/proxy/sni/fixtures/*.bin: a loopback TCP server writes
// the first bytes each client sends (until the parser has an answer, 16 KiB or 3 s) and closes;
// openssl s_client and curl are the clients. Also derives a fragmented-record fixture and a
// large one from the captures. Run by hand (not a test), then commit the files:
//   ./node_modules/.bin/deno run -A tests/proxy/sni/capture_fixtures.ts
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parseClientHello } from "../../../src/proxy/sni/client_hello.ts";
import { getRuntime } from "../../../src/runtime/detect.ts";
import type { Conn } from "../../../src/runtime/types.ts";
import { concatBytes, reframe, withExtension } from "./_tls_frames.ts";

const DIR = join(import.meta.dirname ?? ".", "fixtures");
const rt = await getRuntime();

async function firstBytes(c: Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 3000);
  try {
    for (;;) {
      const b = await c.read({ signal: ac.signal }).catch(() => null);
      if (b === null) break;
      chunks.push(b.slice());
      const all = concatBytes(chunks);
      if (all.length >= 16384 || parseClientHello(all).kind !== "need_more") break;
    }
  } finally {
    clearTimeout(t);
    c.close();
  }
  return concatBytes(chunks);
}

/**
 * Runs `cmd` against a fresh loopback server and returns the first bytes it sent (empty when
 * the client exits without connecting, e.g. an option this openssl does not know).
 */
function capture(cmd: (port: number) => string[]): Promise<Uint8Array> {
  return new Promise((resolve) => {
    let connected = false;
    const l = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => {
      connected = true;
      l.close();
      resolve(firstBytes(c));
    });
    const [bin, ...args] = cmd(l.addr.port);
    const child = spawn(bin!, args, { stdio: ["pipe", "ignore", "ignore"] });
    child.stdin?.end();
    const kill = setTimeout(() => child.kill(), 5000);
    child.on("exit", () => {
      clearTimeout(kill);
      if (connected) return;
      l.close();
      resolve(new Uint8Array(0));
    });
  });
}

function has(bin: string): boolean {
  return spawnSync(bin, ["--version"]).status === 0 ||
    spawnSync(bin, ["version"]).status === 0;
}

const sclient = (port: number, ...extra: string[]) => [
  "openssl",
  "s_client",
  "-connect",
  `127.0.0.1:${port}`,
  ...extra,
];
const out: Record<string, Uint8Array> = {};
if (!has("openssl")) throw new Error("Cannot capture fixtures: openssl is not installed");
out["openssl_tls12_sni"] = await capture((p) =>
  sclient(p, "-tls1_2", "-servername", "db.example.com")
);
out["openssl_tls12_nosni"] = await capture((p) => sclient(p, "-tls1_2", "-noservername"));
out["openssl_tls13_sni"] = await capture((p) =>
  sclient(p, "-tls1_3", "-servername", "Web.Apps.Example.COM.")
);
out["openssl_tls13_nosni"] = await capture((p) => sclient(p, "-tls1_3", "-noservername"));
if (has("curl")) {
  out["curl_sni"] = await capture((p) => [
    "curl",
    "-sk",
    "--max-time",
    "4",
    "--resolve",
    `curl.example.com:${p}:127.0.0.1`,
    `https://curl.example.com:${p}/`,
  ]);
  // curl sends no server name for an IP address.
  out["curl_nosni"] = await capture((p) => [
    "curl",
    "-sk",
    "--max-time",
    "4",
    `https://127.0.0.1:${p}/`,
  ]);
  out["curl_tls12_sni"] = await capture((p) => [
    "curl",
    "-sk",
    "--max-time",
    "4",
    "--tls-max",
    "1.2",
    "--resolve",
    `Old.Example.com:${p}:127.0.0.1`,
    `https://Old.Example.com:${p}/`,
  ]);
} else {
  console.error("curl not installed: no curl fixtures");
}
// openssl >= 3.5 sends an ML-KEM key share (> 1 KiB); older ones get a large extension instead.
const pq = await capture((p) =>
  sclient(p, "-tls1_3", "-groups", "X25519MLKEM768", "-servername", "pq.example.com")
);
out["large"] = pq.length > 1400 ? pq : withExtension(
  out["openssl_tls13_sni"]!,
  0x0015, // padding (RFC 7685), placed first so server_name lies beyond the first packet
  new Uint8Array(3000),
);
out["fragmented"] = reframe(out["openssl_tls13_sni"]!, [1, 2, 3, 40, 100]);

for (const [name, b] of Object.entries(out)) {
  writeFileSync(join(DIR, `${name}.bin`), b);
  console.error(`${name}.bin: ${b.length} bytes: ${JSON.stringify(parseClientHello(b))}`);
}
process.exit(0);
