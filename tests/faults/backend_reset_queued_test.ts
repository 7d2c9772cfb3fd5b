// Issue 12 bug 1: a backend that stops reading, then closes with unread data (RST) while the
// proxy's writes to it are queued (iperf3 -P 8 does this). The splice must end, both sockets
// must close and the result must be reported, every time (no phantom connection). Seen on
// Bun: the reset arrived as a close without an error while the client side was paused for a
// drain that never came.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import type { Conn, SpliceResult } from "../../src/runtime/types.ts";
import { rt, startProxy } from "../runtime/_helpers.ts";
import { waitFor, within } from "../_support/wait.ts";

const BLOCK = new Uint8Array(256 * 1024).fill(0x61);
/** More than loopback socket buffers hold, so the proxy's own queue fills too. */
const LIMIT = 1024 * 1024 * 1024;

/** Resolves once `read` has stopped growing for a few polls (bounded). */
async function stalled(read: () => number): Promise<number> {
  let last = -1;
  let same = 0;
  await waitFor(() => {
    const now = read();
    same = now === last && now > 0 ? same + 1 : 0;
    last = now;
    return same >= 4;
  }, { timeoutMs: 20_000, intervalMs: 100, what: "the byte count to stop growing" });
  return last;
}

/** Reads until FIN or an error (bounded by the caller). */
async function ending(c: Conn): Promise<"fin" | "error"> {
  try {
    for (;;) if ((await c.read()) === null) return "fin";
  } catch {
    return "error";
  }
}

/** A backend process (as iperf3's server is) that reads `bytes` per conn, then resets. */
async function startResetBackend(bytes: number): Promise<{ port: number; stop(): void }> {
  const script = join(import.meta.dirname ?? ".", "_reset_backend.mjs");
  const args = rt.name === "deno" ? ["run", "-A", script, String(bytes)] : [script, String(bytes)];
  const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
  const port = await within(
    new Promise<number>((resolve, reject) => {
      let text = "";
      child.stdout!.on("data", (d) => {
        text += String(d);
        const m = /PORT (\d+)/.exec(text);
        if (m) resolve(Number(m[1]));
      });
      child.once("exit", (code) => reject(new Error(`reset backend exited (${code})`)));
    }),
    20_000,
    "the reset backend to listen",
  );
  return {
    port,
    stop() {
      child.stdin!.end();
      child.kill("SIGKILL");
    },
  };
}

describe("backend resets while the proxy's writes to it are queued", () => {
  it("a backend in another process reads 4 MiB, then resets: no phantom, 30 times", {
    timeout: 240_000,
  }, async () => {
    const backend = await startResetBackend(4 * 1024 * 1024);
    const proxy = startProxy(backend.port);
    try {
      for (let round = 0; round < 30; round++) {
        const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 5000 });
        const writer = (async () => {
          for (let sent = 0; sent < LIMIT; sent += BLOCK.byteLength) await client.write(BLOCK);
        })().then(() => "done", () => "failed");
        const result = await within(
          proxy.results[round]!,
          20_000,
          `round ${round}: the splice result (a phantom connection otherwise)`,
        );
        assert.equal(result.reason, "error", `round ${round}: ended by ${result.reason}`);
        assert.equal(result.errorSide, "b", `round ${round}: the backend's side failed`);
        await within(ending(client), 20_000, `round ${round}: the client socket to close`);
        assert.equal(await within(writer, 20_000, `round ${round}: the client's write`), "failed");
        client.close();
      }
    } finally {
      proxy.close();
      backend.stop();
    }
  });

  it("a backend that reads nothing is reset (abort and close), 8 times", {
    timeout: 240_000,
  }, async () => {
    const ready: ((c: Conn) => void)[] = [];
    const backend = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => ready.shift()?.(c));
    const counters = { up: 0, down: 0 };
    const proxy = startProxy(backend.addr.port, {
      splice: () => {
        counters.up = 0;
        counters.down = 0;
        return { counters };
      },
    });
    try {
      for (let round = 0; round < 8; round++) {
        const how = round % 2 ? "close" : "abort";
        const what = `round ${round} (${how})`;
        const accepted = new Promise<Conn>((resolve) => ready.push(resolve));
        const client = await rt.connect({ host: "127.0.0.1", port: proxy.port, timeoutMs: 5000 });
        let sent = 0;
        const writer = (async () => {
          for (; sent < LIMIT; sent += BLOCK.byteLength) await client.write(BLOCK);
        })().then(() => "done", () => "failed");
        const b = await within(accepted, 20_000, `${what}: the backend's conn`);
        const moved = await stalled(() => counters.up);
        assert.ok(moved > 0, `${what}: bytes reached the proxy`);
        assert.ok(sent < LIMIT, `${what}: the client's writes are held back`);
        // Close with unread data: the kernel sends RST (whichever close the runtime does).
        if (how === "abort" && b.abort) b.abort();
        else b.close();
        const result: SpliceResult = await within(
          proxy.results[round]!,
          20_000,
          `${what}: the splice result (a phantom connection otherwise)`,
        );
        assert.equal(result.reason, "error", `${what}: ended by ${result.reason}`);
        assert.equal(result.errorSide, "b", `${what}: the backend's side failed`);
        await within(ending(client), 20_000, `${what}: the client socket to close`);
        assert.equal(await within(writer, 20_000, `${what}: the client's write`), "failed");
        client.close();
      }
    } finally {
      proxy.close();
      backend.close();
    }
  });
});
