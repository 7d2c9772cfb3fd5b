// A backend in its own process (node:net, on Deno or Bun) so a test can SIGKILL it mid-stream:
// prints its port, then streams 16 KiB pieces to every client until the client goes away.
import net from "node:net";
import process from "node:process";

const piece = new Uint8Array(16 * 1024).fill(0x61);
const server = net.createServer((s) => {
  s.on("error", () => s.destroy());
  const t = setInterval(() => {
    if (!s.destroyed && s.writableLength < 1 << 20) s.write(piece);
  }, 5);
  s.on("close", () => clearInterval(t));
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`);
});
