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
let a: TestServer;
let b: TestServer;
let echo: TestServer;
/** The sluice most tests share; each test first brings it to the routes it needs (given()). */
let fx: Fixture;

interface Fixture {
  dir: { path: string; remove(): Promise<void> };
  sluice: SluiceProcess;
  ports: Record<"one" | "two" | "three" | "peek", number>;
}

type Name = "one" | "two" | "three";

function service(name: string, port: number, backends: number[], extra = ""): string {
  return `[[services]]
name = "${name}"
listener = "local:${port}"
backends = [${backends.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
${extra}
`;
}

/** The routing document serving `names` (one -> a, two -> b, three -> echo). */
function routes(f: Fixture, names: Name[]): string {
  const backend = { one: a.port, two: b.port, three: echo.port };
  return names.map((n) => service(n, f.ports[n], [backend[n]])).join("");
}

function configText(peekPort: number): string {
  return `[listeners]
allowed = { local = "127.0.0.1" }
port_min = 1024
port_max = 65535
drain_timeout = "2s"
bind_retry = "300ms"

[peek]
listener = "127.0.0.1:${peekPort}"

[admin]
listener = ""

[routing.file]
path = "routing.toml"
`;
}

/** A sluice of its own in a fresh directory, serving "one". */
async function launch(): Promise<Fixture> {
  const dir = await tempDir();
  const ports = { one: 0, two: 0, three: 0, peek: 0 };
  for (const k of ["one", "two", "three", "peek"] as const) ports[k] = await freePort(rt);
  const f = { dir, ports } as Fixture;
  await writeFile(join(dir.path, "config.toml"), configText(ports.peek));
  await writeFile(join(dir.path, "routing.toml"), routes(f, ["one"]));
  f.sluice = spawnSluice(rt, ["run", "-c", join(dir.path, "config.toml")], { cwd: dir.path });
  await f.sluice.waitForLine(/listener opened/, 20_000);
  // Peek starts last: once it answers, sluice has finished starting (signal handlers included).
  await f.sluice.waitForLine(/peek listening/, 20_000);
  await waitFor(async () => (await peek(f)).length > 0, { what: "peek to answer" });
  return f;
}

/** Writes the routes for `names` and waits until exactly their listeners accept. */
async function given(f: Fixture, names: Name[]): Promise<void> {
  await writeFile(join(f.dir.path, "routing.toml"), routes(f, names));
  for (const n of ["one", "two", "three"] as const) {
    const open = names.includes(n);
    await waitFor(async () => (await canConnect(rt, f.ports[n])) === open, {
      timeoutMs: 10_000,
      what: `listener ${n} to be ${open ? "open" : "closed"} before the test`,
    });
  }
}

/** The first log line after `from` matching `re` (bounded). */
function lineAfter(f: Fixture, from: number, re: RegExp, timeoutMs: number): Promise<string> {
  return waitFor(() => f.sluice.lines.slice(from).find((l) => re.test(l)), {
    timeoutMs,
    what: `a log line matching ${re}`,
  });
}

async function peek(f: Fixture): Promise<string> {
  const c = await rt.connect({ host: "127.0.0.1", port: f.ports.peek, timeoutMs: 2000 });
  try {
    return await readAll(c);
  } finally {
    c.close();
  }
}

before(async () => {
  rt = await runtime();
  a = startNamedServer(rt, "a");
  b = startNamedServer(rt, "b");
  echo = startEchoServer(rt);
  fx = await launch();
});

after(async () => {
  fx?.sluice.kill();
  a?.close();
  b?.close();
  echo?.close();
  await fx?.dir.remove();
});

describe("sluice run with a routing file", () => {
  it("serves the routes of the file it starts with", async () => {
    const f = await launch();
    try {
      assert.equal(await fetchBanner(rt, f.ports.one), "a");
      assert.equal(await canConnect(rt, f.ports.two), false, "only the first file's routes");
    } finally {
      f.sluice.kill();
      await f.dir.remove();
    }
  });

  it("opens a listener within one second of an in-place edit", async () => {
    await given(fx, ["one"]);
    await writeFile(join(fx.dir.path, "routing.toml"), routes(fx, ["one", "two"]));
    await waitFor(() => canConnect(rt, fx.ports.two), {
      timeoutMs: 1000,
      intervalMs: 20,
      what: "listener two",
    });
    assert.equal(await fetchBanner(rt, fx.ports.two), "b");
  });

  it("opens a listener within one second of a rename-save", async () => {
    await given(fx, ["one", "two"]);
    const tmp = join(fx.dir.path, ".routing.toml.swp");
    await writeFile(tmp, routes(fx, ["one", "two", "three"]));
    await rename(tmp, join(fx.dir.path, "routing.toml"));
    await waitFor(() => canConnect(rt, fx.ports.three), {
      timeoutMs: 1000,
      intervalMs: 20,
      what: "listener three",
    });
  });

  it("an unparsable document keeps the previous routing and logs line and column", async () => {
    await given(fx, ["one", "two"]);
    const from = fx.sluice.lines.length;
    await writeFile(join(fx.dir.path, "routing.toml"), "[[services]\nname = \n");
    await lineAfter(fx, from, /routing\.toml:\d+:\d+/, 3000);
    assert.equal(await fetchBanner(rt, fx.ports.one), "a");
    assert.equal(await fetchBanner(rt, fx.ports.two), "b");
  });

  it("an invalid route is dropped alone, with a warning naming service and field", async () => {
    await given(fx, ["one", "two", "three"]);
    const from = fx.sluice.lines.length;
    await writeFile(
      join(fx.dir.path, "routing.toml"),
      routes(fx, ["one", "two"]) +
        `[[services]]\nname = "bad"\nlistener = "nowhere:${fx.ports.three}"\nbackends = ["127.0.0.1:${echo.port}"]\n`,
    );
    await lineAfter(fx, from, /bad/, 3000);
    await waitFor(async () => !(await canConnect(rt, fx.ports.three)), {
      timeoutMs: 2000,
      what: "three to close",
    });
    assert.equal(await fetchBanner(rt, fx.ports.one), "a");
    assert.equal(await fetchBanner(rt, fx.ports.two), "b");
  });

  it("peek shows the table with secrets redacted", async () => {
    await writeFile(
      join(fx.dir.path, "routing.toml"),
      service("one", fx.ports.one, [a.port]) +
        service("two", fx.ports.two, [b.port], `proxy = "socks5://alice:s3cret@127.0.0.1:1080"`),
    );
    const text = await waitFor(async () => {
      const t = await peek(fx);
      return t.includes("socks5://") ? t : undefined;
    }, { timeoutMs: 2000, what: "peek to show the proxy" });
    assert.match(text, new RegExp(`127\\.0\\.0\\.1:${fx.ports.one}`));
    assert.match(text, /├ round_robin/);
    assert.match(text, /socks5:\/\/alice:\*\*\*@127\.0\.0\.1:1080 ─➤ 127\.0\.0\.1:\d+/);
    assert.ok(!text.includes("s3cret"));
    assert.ok(!fx.sluice.lines.some((l) => l.includes("s3cret")), "no log line shows the password");
  });

  it("a removed listener refuses new connections within one second", async () => {
    await given(fx, ["one", "two"]);
    await writeFile(join(fx.dir.path, "routing.toml"), routes(fx, ["one"]));
    await waitFor(async () => !(await canConnect(rt, fx.ports.two)), {
      timeoutMs: 1000,
      intervalMs: 20,
      what: "two to close",
    });
    assert.equal(await fetchBanner(rt, fx.ports.one), "a");
  });

  it("SIGHUP with an invalid config keeps the running one and drops no connection", async () => {
    await given(fx, ["one"]);
    const config = join(fx.dir.path, "config.toml");
    const from = fx.sluice.lines.length;
    const c = await rt.connect({ host: "127.0.0.1", port: fx.ports.one, timeoutMs: 2000 });
    try {
      await writeFile(config, "[listeners]\nport_minn = 5\n");
      fx.sluice.signal("SIGHUP");
      await lineAfter(fx, from, /reload rejected/, 5000);
      assert.match(fx.sluice.lines.slice(from).join("\n"), /port_minn/);
      c.write(bytes("still here")).catch(() => {});
      await c.closeWrite();
      assert.equal(await readAll(c), "a");
      assert.equal(await fetchBanner(rt, fx.ports.one), "a");
    } finally {
      c.close();
      // The shared sluice keeps a good config file for whatever runs next.
      await writeFile(config, configText(fx.ports.peek));
    }
  });

  it("SIGTERM drains and exits 0", async () => {
    const f = await launch();
    try {
      f.sluice.signal("SIGTERM");
      assert.equal(await f.sluice.exited(10_000), 0);
    } finally {
      f.sluice.kill();
      await f.dir.remove();
    }
  });
});
