// A backend in a process of its own (as iperf3's server is) for backend_reset_queued_test:
// each connection is read until BYTES arrived (0: nothing is read), then closed with the
// rest unread, so the kernel answers with RST. Prints "PORT <n>"; ends when stdin closes.
import { createServer } from "node:net";
import process from "node:process";

const bytes = Number(process.argv[2] ?? 0);
const server = createServer({ allowHalfOpen: true }, (s) => {
  let got = 0;
  s.on("error", () => {});
  if (bytes === 0) {
    s.pause();
    process.stdin.once("data", () => s.destroy());
    return;
  }
  s.on("data", (d) => {
    got += d.byteLength;
    if (got >= bytes) {
      s.pause();
      s.destroy();
    }
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
