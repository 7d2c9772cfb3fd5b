// The churn benchmark's traffic, in a process of its own so that the harness's probes are not
// delayed by it: (a) a closed loop of new connections against the stable listeners, (b)
// long-lived connections that each echo a numbered message once a second, content checked.
//
//   deno run -A bench/churn/traffic.ts '{"ports":[...],"longLived":1000,"loop":4,"rate":400}'
//
// The closed loop is paced: at most `rate` new connections a second in all (each of the `loop`
// workers waits for its next slot), so every proxy forwards the same work and their CPU
// figures compare; a proxy slower than that rate simply gets fewer.
//
// Prints "ready" once every long-lived connection has had its first echo, then runs until its
// stdin closes, lets the last echoes arrive (at most 3 s) and prints one JSON line of counts.
import { connect, type Socket } from "node:net";
import process from "node:process";

interface Args {
  ports: number[];
  longLived: number;
  loop: number;
  rate: number;
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args;
const HOST = "127.0.0.1";

const stats = {
  loop_ok: 0,
  loop_refused: 0,
  loop_reset: 0,
  loop_timeout: 0,
  loop_other: 0,
  loop_corrupt: 0,
  long_opened: 0,
  long_broken: 0,
  long_msgs_sent: 0,
  long_msgs_ok: 0,
  long_bytes_sent: 0,
  long_bytes_ok: 0,
  long_bytes_lost: 0,
  long_corrupt: 0,
  errors: {} as Record<string, number>,
};
let stopping = false;

function classify(e: NodeJS.ErrnoException): "refused" | "reset" | "other" {
  if (e.code === "ECONNREFUSED") return "refused";
  if (e.code === "ECONNRESET" || e.code === "EPIPE") return "reset";
  return "other";
}

function countError(where: string, e: NodeJS.ErrnoException): void {
  const k = `${where}:${e.code ?? e.message}`;
  stats.errors[k] = (stats.errors[k] ?? 0) + 1;
}

// (a) closed loop: connect, write 32 bytes, read them back, close; the next starts at once.
const MSG = "closed-loop-message-0123456789ab";
function oneShort(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: HOST, port });
    let got = "";
    let done = false;
    const t = setTimeout(() => finish("timeout"), 5000);
    function finish(kind: "ok" | "refused" | "reset" | "timeout" | "other" | "corrupt") {
      if (done) return;
      done = true;
      clearTimeout(t);
      s.destroy();
      if (kind === "ok") stats.loop_ok++;
      else if (kind === "refused") stats.loop_refused++;
      else if (kind === "reset") stats.loop_reset++;
      else if (kind === "timeout") stats.loop_timeout++;
      else if (kind === "corrupt") stats.loop_corrupt++;
      else stats.loop_other++;
      resolve();
    }
    s.setNoDelay(true);
    s.on("connect", () => s.write(MSG));
    s.on("data", (d) => {
      got += d.toString("latin1");
      if (got.length >= MSG.length) finish(got === MSG ? "ok" : "corrupt");
    });
    s.on("error", (e: NodeJS.ErrnoException) => {
      countError("loop", e);
      finish(classify(e));
    });
    // Closed by the proxy before the echo: a reset as far as the client can tell.
    s.on("close", () => finish(got === MSG ? "ok" : "reset"));
  });
}

async function loopWorker(k: number): Promise<void> {
  const every = (args.loop / args.rate) * 1000;
  let next = performance.now() + (k * every) / args.loop;
  for (let i = k; !stopping; i += args.loop) {
    await oneShort(args.ports[i % args.ports.length]!);
    next += every;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else next = performance.now(); // behind: no burst to catch up
  }
}

// (b) long-lived connections: message "L<id>:<seq>" padded to 32 bytes, once a second each.
interface Long {
  s: Socket;
  sent: string;
  got: string;
  broken: boolean;
}
const longs: Long[] = [];

function openLong(id: number, port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: HOST, port });
    const l: Long = { s, sent: "", got: "", broken: false };
    s.setNoDelay(true);
    const t = setTimeout(() => {
      countError("long-open", { name: "", message: "timeout", code: "TIMEOUT" });
      resolve();
    }, 10_000);
    s.on("connect", () => {
      stats.long_opened++;
      longs.push(l);
      send(l, id, 0);
    });
    s.on("data", (d) => {
      l.got += d.toString("latin1");
      if (l.got.length >= 32) {
        clearTimeout(t);
        resolve();
      }
    });
    const broken = (e?: NodeJS.ErrnoException) => {
      if (e) countError("long", e);
      if (!l.broken && !stopping) {
        l.broken = true;
        stats.long_broken++;
      }
      clearTimeout(t);
      resolve();
    };
    s.on("error", broken);
    s.on("close", () => broken());
  });
}

function send(l: Long, id: number, seq: number): void {
  const m = `L${id}:${seq}`.padEnd(32, ".");
  l.sent += m;
  stats.long_msgs_sent++;
  stats.long_bytes_sent += 32;
  l.s.write(m);
}

/** Compares what came back with what was sent; counts whole matching messages. */
function settle(l: Long): void {
  const n = Math.min(l.sent.length, l.got.length);
  let ok = 0;
  for (let i = 0; i + 32 <= n; i += 32) {
    if (l.sent.slice(i, i + 32) === l.got.slice(i, i + 32)) ok++;
    else stats.long_corrupt++;
  }
  stats.long_msgs_ok += ok;
  stats.long_bytes_ok += ok * 32;
  stats.long_bytes_lost += Math.max(0, l.sent.length - l.got.length);
  if (l.got.length > l.sent.length) stats.long_corrupt++;
}

const stdinClosed = new Promise<void>((resolve) => {
  process.stdin.on("end", resolve);
  process.stdin.on("close", resolve);
  process.stdin.on("error", () => resolve());
  process.stdin.resume();
});

// Open the long-lived connections 50 at a time, spread over the ports.
for (let i = 0; i < args.longLived; i += 50) {
  const batch: Promise<void>[] = [];
  for (let j = i; j < Math.min(args.longLived, i + 50); j++) {
    batch.push(openLong(j, args.ports[j % args.ports.length]!));
  }
  await Promise.all(batch);
}
console.log(`ready ${stats.long_opened}`);

// Once a second, each long-lived connection sends its next message (staggered over the second).
let seq = 1;
const tick = setInterval(() => {
  const n = longs.length;
  longs.forEach((l, i) => {
    setTimeout(() => {
      if (!stopping && !l.broken) send(l, i, seq);
    }, Math.floor((i / Math.max(1, n)) * 900));
  });
  seq++;
}, 1000);
const workers = Array.from({ length: args.loop }, (_, k) => loopWorker(k));

await stdinClosed;
clearInterval(tick);
// Let the last echoes arrive: every unbroken connection has got all it sent, or 3 s passed.
const end = Date.now() + 3000;
while (Date.now() < end && longs.some((l) => !l.broken && l.got.length < l.sent.length)) {
  await new Promise((r) => setTimeout(r, 50));
}
stopping = true;
await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 6000))]);
for (const l of longs) {
  settle(l);
  l.s.destroy();
}
console.log(JSON.stringify(stats));
process.exit(0);
