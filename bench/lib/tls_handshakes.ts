// The SNI benchmark's load generator, run as its own (pinned) process:
//   deno run -A bench/lib/tls_handshakes.ts PORT SECS CONCURRENCY NAME[=EXPECTED_CN] ...
// Opens TLS connections to 127.0.0.1:PORT (full handshakes, no resumption), cycling through
// the server names, CONCURRENCY at a time for SECS seconds; each one closes once the handshake
// is done. Checks that each name's certificate is the expected server's (routing is right).
// Prints one JSON line: { handshakes, errors, wrong, secs, seen: { name: cn } }.
import process from "node:process";
import { connect, type TLSSocket } from "node:tls";

const [portArg, secsArg, concArg, ...nameArgs] = process.argv.slice(2);
const port = Number(portArg);
const secs = Number(secsArg);
const concurrency = Number(concArg);
if (!(port > 0) || !(secs > 0) || !(concurrency >= 1) || nameArgs.length === 0) {
  console.error("usage: tls_handshakes.ts PORT SECS CONCURRENCY NAME[=EXPECTED_CN] ...");
  process.exit(2);
}
const names = nameArgs.map((a) => {
  const [name, cn] = a.split("=");
  return { name: name!, cn };
});

let handshakes = 0;
let errors = 0;
let wrong = 0;
const seen: Record<string, string> = {};
const deadline = performance.now() + secs * 1000;

function one(i: number): Promise<void> {
  const { name, cn } = names[i % names.length]!;
  return new Promise((resolve) => {
    let finished = false;
    const done = (ok: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (ok) handshakes++;
      else errors++;
      s.destroy();
      resolve();
    };
    const s: TLSSocket = connect(
      { host: "127.0.0.1", port, servername: name, rejectUnauthorized: false },
      () => {
        const got = String(s.getPeerCertificate()?.subject?.CN ?? "");
        seen[name] ??= got;
        if (cn !== undefined && got !== cn) wrong++;
        done(true);
      },
    );
    const timer = setTimeout(() => done(false), 5000);
    s.on("error", () => done(false));
  });
}

async function worker(w: number): Promise<void> {
  for (let i = w; performance.now() < deadline; i += concurrency) await one(i);
}

const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
const elapsed = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ handshakes, errors, wrong, secs: elapsed, seen }));
process.exit(0);
