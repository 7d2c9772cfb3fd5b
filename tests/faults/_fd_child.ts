// A child for accept_errors_test: an echo listener and an HTTP server on the runtime adapter,
// run under a low descriptor limit. Prints "PORTS <echo> <http>"; ends when stdin closes.
import process from "node:process";
import { getRuntime } from "../../src/runtime/detect.ts";

const rt = getRuntime();
const echo = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => {
  void (async () => {
    try {
      for (;;) {
        const d = await c.read();
        if (d === null) break;
        await c.write(d);
      }
    } catch { /* the peer went away */ }
    c.close();
  })();
});
const http = await rt.serveHttp({ host: "127.0.0.1", port: 0 }, () => new Response("ok"));
process.stdout.write(`PORTS ${echo.addr.port} ${http.port}\n`);
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
