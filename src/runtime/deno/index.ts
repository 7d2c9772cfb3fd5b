// The Deno implementation of the runtime contract, assembled from one file per capability:
// conn.ts, listen.ts, dial.ts, splice.ts, http_server.ts (node:http), http_client.ts and
// signals.ts; file watching is shared with Bun (../_watch_file.ts).
import { watchFileInDir } from "../_watch_file.ts";
import { connect } from "./dial.ts";
import { httpClient } from "./http_client.ts";
import { nodeServeHttp } from "./http_server.ts";
import { createDenoListen } from "./listen.ts";
import { guardSigusr1, onSignal } from "./signals.ts";
import { createDenoSplice } from "./splice.ts";
import type { Runtime } from "../types.ts";

/**
 * The Deno adapter; its state (ports being released, the buffer pool) is its own. Installs the
 * SIGUSR1 guard.
 */
export function createDenoRuntime(): Runtime {
  guardSigusr1();
  return {
    name: "deno",
    get version() {
      return Deno.version.deno;
    },
    listen: createDenoListen(),
    connect,
    splice: createDenoSplice(),
    // node:http, not Deno.serve: it has header and idle timeouts and survives accept errors.
    serveHttp: nodeServeHttp,
    httpClient,
    onSignal,
    watchFile: watchFileInDir,
  };
}
