// A loopback port whose SYNs go unanswered, for connect timeouts without leaving loopback:
// a child process listens with backlog 1 and never accepts; once its accept queue is full
// the kernel drops further SYNs. (Both runtimes' own listeners accept eagerly, so the child is
// Deno, which is a devDependency and accepts only when asked.)
import { type ChildProcess, spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { join } from "node:path";

const DENO = join(import.meta.dirname ?? ".", "../../node_modules/.bin/deno");
const SCRIPT = `const l = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 1 });
console.log(l.addr.port); setInterval(() => {}, 1 << 30);`;

export interface Blackhole {
  readonly port: number;
  close(): void;
}

function tryConnect(port: number, ms: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    const t = setTimeout(() => {
      s.destroy();
      resolve(undefined);
    }, ms);
    s.once("connect", () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once("error", () => {
      clearTimeout(t);
      s.destroy();
      resolve(undefined);
    });
  });
}

export async function startBlackhole(): Promise<Blackhole> {
  const child: ChildProcess = spawn(DENO, ["eval", SCRIPT], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error("blackhole child did not start within 10 s")),
      10000,
    );
    let out = "";
    child.stdout!.on("data", (d: Uint8Array) => {
      out += new TextDecoder().decode(d);
      const m = /(\d+)\n/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", () => reject(new Error("blackhole child exited early")));
  });
  // Fill the accept queue: connections complete until it is full, then SYNs are dropped.
  const fillers: Socket[] = [];
  for (let i = 0; i < 16; i++) {
    const s = await tryConnect(port, 300);
    if (!s) break;
    s.on("error", () => {});
    fillers.push(s);
  }
  return {
    port,
    close() {
      for (const s of fillers) s.destroy();
      child.kill("SIGKILL");
    },
  };
}
