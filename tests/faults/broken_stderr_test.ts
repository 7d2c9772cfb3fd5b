// Issue 12 bug 4: stderr turns into a broken pipe (`sluice run ... 2>&1 | head -c 1`, a log
// reader that exits). Logging must never throw and never loop on its own error: sluice goes on
// proxying, /healthz answers and SIGTERM still ends the process.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Runtime } from "../../src/runtime/types.ts";
import { bytes, freePort, runtime, startEchoServer, type TestServer } from "../_support/helpers.ts";
import { type SluiceFixture, startSluiceFixture } from "../e2e/_sluice_fixture.ts";
import { waitFor, within } from "../_support/wait.ts";

const dec = new TextDecoder();
let rt: Runtime;
let echo: TestServer;
let fx: SluiceFixture;
let port = 0;

before(async () => {
  rt = await runtime();
  echo = startEchoServer(rt);
  port = await freePort(rt);
  fx = await startSluiceFixture({
    rt,
    routing: `[[services]]
name = "echo"
listener = "local:${port}"
backends = ["127.0.0.1:${echo.port}"]
`,
    // Every connection writes lines (debug + access): plenty of writes into the dead pipe.
    config: `\n[log]\nlevel = "debug"\naccess = true\n`,
  });
  await fx.waitListening([`127.0.0.1:${port}`]);
});

after(async () => {
  await fx?.stop();
  echo?.close();
});

/** One round trip through the proxy (bounded). */
async function roundTrip(text: string): Promise<string> {
  const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 5000 });
  try {
    await c.write(bytes(text));
    let got = "";
    const signal = AbortSignal.timeout(10_000);
    while (got.length < text.length) {
      const chunk = await c.read({ signal });
      if (chunk === null) break;
      got += dec.decode(chunk);
    }
    return got;
  } finally {
    c.close();
  }
}

async function healthz(): Promise<number> {
  const url = `http://127.0.0.1:${await adminPort()}/healthz`;
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  await r.body?.cancel();
  return r.status;
}

async function adminPort(): Promise<number> {
  const { readFile } = await import("node:fs/promises");
  const text = await readFile(`${fx.dir}/config.toml`, "utf8");
  return Number(/listener = "127\.0\.0\.1:(\d+)"/.exec(text)![1]);
}

describe("stderr becomes a broken pipe", () => {
  it("sluice keeps proxying, /healthz answers, SIGTERM exits", { timeout: 90_000 }, async () => {
    assert.equal(await roundTrip("before"), "before");
    // The log reader goes away: our end of sluice's stderr pipe closes.
    const stderr = fx.sluice.child.stderr!;
    stderr.removeAllListeners("data");
    stderr.destroy();
    await waitFor(() => stderr.destroyed, { timeoutMs: 5000, what: "stderr reader closed" });

    // Every connection now logs into the dead pipe; each must still be proxied.
    for (let i = 0; i < 30; i++) {
      const text = `round ${i}`;
      assert.equal(await within(roundTrip(text), 15_000, `round trip ${i}`), text);
    }
    const many = await within(
      Promise.all(Array.from({ length: 20 }, (_, i) => roundTrip(`parallel ${i}`))),
      30_000,
      "20 parallel round trips",
    );
    assert.deepEqual(many, Array.from({ length: 20 }, (_, i) => `parallel ${i}`));
    assert.equal(await within(healthz(), 10_000, "/healthz"), 200);

    fx.sluice.signal("SIGTERM");
    const code = await fx.sluice.exited(20_000);
    assert.equal(code, 0, "SIGTERM ends sluice cleanly");
  });
});
