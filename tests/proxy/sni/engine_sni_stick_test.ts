// The stick table on a listener that routes by TLS server name: each service's pool sticks by
// its own service name (a client has one entry per service it reached), and what is stuck is
// the backend the pool picked.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createEngine } from "../../../src/proxy/engine.ts";
import { configureLogging, createLogger } from "../../../src/log.ts";
import type { Runtime } from "../../../src/runtime/types.ts";
import { freePort, runtime, startNamedServer } from "../../_support/helpers.ts";
import { waitFor } from "../../_support/wait.ts";
import { exchange, HELLO, tableOf } from "./_engine_sni_setup.ts";

const dec = new TextDecoder();
let rt: Runtime;

before(async () => {
  rt = await runtime();
  configureLogging({ level: "warn", format: "json", write: () => {} });
});

/** The first answer to `data` as text ("" when none). */
async function send(port: number, data: Uint8Array): Promise<string> {
  const got = await exchange(rt, port, data);
  return got ? dec.decode(got) : "";
}

describe("engine: stick table on a listener routing by server name", () => {
  it("keys each entry by the service whose pool took the connection", async () => {
    const db = startNamedServer(rt, "db");
    const web = startNamedServer(rt, "web");
    const port = await freePort(rt);
    const e = createEngine({
      rt,
      log: createLogger("test"),
      drainTimeoutMs: 500,
      bindRetryMs: 200,
    });
    try {
      e.apply(tableOf([
        {
          name: "db",
          listener: `local:${port}`,
          sni: ["db.example.com"],
          stick: { expiration: "1m" },
          backends: [{ address: `127.0.0.1:${db.port}`, group: "db-group" }],
        },
        {
          name: "web",
          listener: `local:${port}`,
          stick: { expiration: "1m" },
          backends: [{ address: `127.0.0.1:${web.port}`, group: "web-group" }],
        },
      ]));
      await waitFor(() => e.listeners()[0]?.state === "listening");
      assert.match(await send(port, HELLO), /^db/);
      // Not TLS: the service without sni takes it.
      assert.match(await send(port, new TextEncoder().encode("plain\n")), /^web/);
      const entries = await waitFor(() => {
        const list = e.stickEntries!();
        return list.length === 2 ? list : undefined;
      }, { what: "an entry per service" });
      assert.deepEqual(
        entries.map((x) => [x.service, x.client, x.backend]).sort(),
        [["db", "127.0.0.1", "db-group"], ["web", "127.0.0.1", "web-group"]],
      );
      assert.equal(e.unstick!("db"), 1);
      assert.deepEqual(e.stickEntries!().map((x) => x.service), ["web"]);
    } finally {
      await e.shutdown();
      db.close();
      web.close();
    }
  });
});
