// The Bun implementation of the runtime contract, assembled from one file per capability:
// conn.ts (the Conn over a Transport), native.ts and node_transport.ts (the two transports),
// listen.ts, dial.ts (with the dial policy this adapter owns), splice.ts, http_server.ts,
// http_client.ts; signals and file watching are shared with Deno (../_signals.ts,
// ../_watch_file.ts). Sockets are Bun's native callback sockets (cheap: ~3 KiB each).
import { guardSigusr1Bun, onProcessSignal } from "../_signals.ts";
import { watchFileInDir } from "../_watch_file.ts";
import { bunApi } from "./bun_api.ts";
import { createBunDialer } from "./dial.ts";
import { httpClient } from "./http_client.ts";
import { serveHttp } from "./http_server.ts";
import { listen } from "./listen.ts";
import { splice } from "./splice.ts";
import type { Runtime } from "../types.ts";

/** The Bun adapter; its state (the dial policy) is its own. Installs the SIGUSR1 guard. */
export function createBunRuntime(): Runtime {
  guardSigusr1Bun();
  return {
    name: "bun",
    get version() {
      return bunApi().version;
    },
    listen,
    connect: createBunDialer(),
    splice,
    serveHttp,
    httpClient,
    onSignal: onProcessSignal,
    watchFile: watchFileInDir,
  };
}
