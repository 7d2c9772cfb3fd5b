// sluice as a process, driven by a watched routing file: listeners follow every edit.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import {
  bytes,
  canConnect,
  fetchBanner,
  freePort,
  readAll,
  runtime,
  type SluiceProcess,
  spawnSluice,
  startEchoServer,
  startNamedServer,
  tempDir,
  type TestServer,
} from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";

let rt: Runtime;
let dir: { path: string; remove(): Promise<void> };
let sluice: SluiceProcess;
let a: TestServer;
let b: TestServer;
let echo: TestServer;
const ports: Record<string, number> = {};

function routing(services: string): string {
  return services;
}

function service(name: string, port: number, backends: number[], extra = ""): string {
  return `[[services]]
name = "${name}"
listener = "local:${port}"
backends = [${backends.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
${extra}
`;
}

async function peek(): Promise<string> {
  const c = await rt.connect({ host: "127.0.0.1", port: ports.peek!, timeoutMs: 2000 });
  try {
    return await readAll(c);
  } finally {
    c.close();
  }
}

before(async () => {
  rt = await runtime();
  dir = await tempDir();
  a = startNamedServer(rt, "a");
  b = startNamedServer(rt, "b");
  echo = startEchoServer(rt);
  for (const k of ["one", "two", "three", "peek"]) ports[k] = await freePort(rt);
  await writeFile(
    join(dir.path, "config.toml"),
    `[listeners]
allowed = { local = "127.0.0.1" }
port_min = 1024
port_max = 65535
drain_timeout = "2s"
bind_retry = "300ms"

[peek]
listener = "127.0.0.1:${ports.peek}"

[admin]
listener = ""

[routing.file]
path = "routing.toml"
`,
  );
  await writeFile(join(dir.path, "routing.toml"), routing(service("one", ports.one!, [a.port])));
  sluice = spawnSluice(rt, ["run", "-c", join(dir.path, "config.toml")], { cwd: dir.path });
  await sluice.waitForLine(/listener opened/, 20_000);
});

after(async () => {
  sluice?.kill();
  a?.close();
  b?.close();
  echo?.close();
  await dir?.remove();
});

describe("sluice run with a routing file", () => {
  it("serves the routes of the file it starts with", async () => {
    assert.equal(await fetchBanner(rt, ports.one!), "a");
  });

  it("opens a listener within one second of an in-place edit", async () => {
    await writeFile(
      join(dir.path, "routing.toml"),
      routing(service("one", ports.one!, [a.port]) + service("two", ports.two!, [b.port])),
    );
    await waitFor(() => canConnect(rt, ports.two!), {
      timeoutMs: 1000,
      intervalMs: 20,
      what: "listener two",
    });
    assert.equal(await fetchBanner(rt, ports.two!), "b");
  });

  it("opens a listener within one second of a rename-save", async () => {
    const tmp = join(dir.path, ".routing.toml.swp");
    await writeFile(
      tmp,
      routing(
        service("one", ports.one!, [a.port]) + service("two", ports.two!, [b.port]) +
          service("three", ports.three!, [echo.port]),
      ),
    );
    await rename(tmp, join(dir.path, "routing.toml"));
    await waitFor(() => canConnect(rt, ports.three!), {
      timeoutMs: 1000,
      intervalMs: 20,
      what: "listener three",
    });
  });

  it("an unparsable document keeps the previous routing and logs line and column", async () => {
    await writeFile(join(dir.path, "routing.toml"), "[[services]\nname = \n");
    await sluice.waitForLine(/routing\.toml:\d+:\d+/, 3000);
    assert.equal(await fetchBanner(rt, ports.one!), "a");
    assert.equal(await fetchBanner(rt, ports.two!), "b");
  });

  it("an invalid route is dropped alone, with a warning naming service and field", async () => {
    await writeFile(
      join(dir.path, "routing.toml"),
      routing(
        service("one", ports.one!, [a.port]) + service("two", ports.two!, [b.port]) +
          `[[services]]\nname = "bad"\nlistener = "nowhere:${ports.three}"\nbackends = ["127.0.0.1:${echo.port}"]\n`,
      ),
    );
    await sluice.waitForLine(/bad/, 3000);
    await waitFor(async () => !(await canConnect(rt, ports.three!)), {
      timeoutMs: 2000,
      what: "three to close",
    });
    assert.equal(await fetchBanner(rt, ports.one!), "a");
    assert.equal(await fetchBanner(rt, ports.two!), "b");
  });

  it("peek shows the table with secrets redacted", async () => {
    await writeFile(
      join(dir.path, "routing.toml"),
      routing(
        service("one", ports.one!, [a.port]) +
          service("two", ports.two!, [b.port], `proxy = "socks5://alice:s3cret@127.0.0.1:1080"`),
      ),
    );
    const text = await waitFor(async () => {
      const t = await peek();
      return t.includes("socks5://") ? t : undefined;
    }, { timeoutMs: 2000, what: "peek to show the proxy" });
    assert.match(text, new RegExp(`127\\.0\\.0\\.1:${ports.one}`));
    assert.match(text, /├ round_robin/);
    assert.match(text, /socks5:\/\/alice:\*\*\*@127\.0\.0\.1:1080 ─➤ 127\.0\.0\.1:\d+/);
    assert.ok(!text.includes("s3cret"));
    assert.ok(!sluice.lines.some((l) => l.includes("s3cret")), "no log line shows the password");
  });

  it("a removed listener refuses new connections within one second", async () => {
    await writeFile(join(dir.path, "routing.toml"), routing(service("one", ports.one!, [a.port])));
    await waitFor(async () => !(await canConnect(rt, ports.two!)), {
      timeoutMs: 1000,
      intervalMs: 20,
      what: "two to close",
    });
    assert.equal(await fetchBanner(rt, ports.one!), "a");
  });

  it("SIGHUP with an invalid config keeps the running one and drops no connection", async () => {
    const c = await rt.connect({ host: "127.0.0.1", port: ports.one!, timeoutMs: 2000 });
    await writeFile(join(dir.path, "config.toml"), "[listeners]\nport_minn = 5\n");
    sluice.signal("SIGHUP");
    await sluice.waitForLine(/reload rejected/, 5000);
    assert.match(sluice.lines.join("\n"), /port_minn/);
    c.write(bytes("still here")).catch(() => {});
    await c.closeWrite();
    assert.equal(await readAll(c), "a");
    c.close();
    assert.equal(await fetchBanner(rt, ports.one!), "a");
  });

  it("SIGTERM drains and exits 0", async () => {
    sluice.signal("SIGTERM");
    assert.equal(await sluice.exited(10_000), 0);
  });
});
