// A child for fd_exhaustion_test: dials through the runtime adapter while the process has no
// descriptor left, and prints one JSON line of what each dial gave. Steps: a first dial to a
// listener that is up, exhausted (Bun: its node:net path); a dial that succeeds (the
// destination has answered: Bun dials it natively from then on); the same dial, exhausted; a
// dial to a closed port with descriptors free (a real refusal must stay one).
import { closeSync, openSync } from "node:fs";
import process from "node:process";
import { getRuntime } from "../../src/runtime/detect.ts";

const rt = getRuntime();
const server = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => c.close());
const port = server.addr.port;
// A port that was bound a moment ago and is closed now: nothing listens there.
const gone = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => c.close());
const closedPort = gone.addr.port;
await gone.close();

/** Opens descriptors until the process has none left; returns them (to close) and why it stopped. */
function exhaust(): { fds: number[]; stop: string } {
  const fds: number[] = [];
  for (let i = 0; i < 1_000_000; i++) {
    try {
      fds.push(openSync("/dev/null", "r"));
    } catch (e) {
      return { fds, stop: String((e as { code?: unknown }).code) };
    }
  }
  return { fds, stop: "none" };
}

async function dial(p: number): Promise<string> {
  try {
    const c = await rt.connect({ host: "127.0.0.1", port: p, timeoutMs: 5000 });
    c.close();
    return "ok";
  } catch (e) {
    return `${(e as { code?: unknown }).code}: ${(e as Error).message}`;
  }
}

async function exhausted(p: number): Promise<{ stop: string; result: string }> {
  const { fds, stop } = exhaust();
  try {
    return { stop, result: await dial(p) };
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

const out = {
  firstExhausted: await exhausted(port),
  free: await dial(port),
  againExhausted: await exhausted(port),
  refused: await dial(closedPort),
};
process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
await server.close();
process.exit(0);
