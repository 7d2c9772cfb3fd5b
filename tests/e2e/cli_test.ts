// The command line as a user runs it: exit codes, check, bootstrap, version, --forward.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { VERSION } from "../../src/version.ts";
import {
  canConnect,
  fetchBanner,
  freePort,
  readAll,
  ROOT,
  runtime,
  spawnSluice,
  startNamedServer,
  tempDir,
} from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";

let rt: Runtime;
let dir: { path: string; remove(): Promise<void> };

before(async () => {
  rt = await runtime();
  dir = await tempDir();
});
after(() => dir?.remove());

async function sluice(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  const p = spawnSluice(rt, args, { cwd: dir.path, env });
  const code = await p.exited(30_000);
  return { code, out: p.lines.join("\n") };
}

describe("sluice CLI", () => {
  it("version prints the version and exits 0", async () => {
    const r = await sluice(["version"]);
    assert.equal(r.code, 0);
    assert.match(r.out, new RegExp(`sluice ${VERSION.replace(/\./g, "\\.")} \\((deno|bun) `));
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8"));
    assert.equal(pkg.version, VERSION);
  });

  it("--help and <command> --help print usage and exit 0", async () => {
    const r = await sluice(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.out, /sluice bootstrap/);
    const c = await sluice(["check", "--help"]);
    assert.equal(c.code, 0);
    assert.match(c.out, /Usage: sluice check/);
  });

  it("an unknown command or flag is a usage error: exit 2", async () => {
    assert.equal((await sluice(["frobnicate"])).code, 2);
    const r = await sluice(["run", "--no-such-flag"]);
    assert.equal(r.code, 2);
    assert.match(r.out, /no-such-flag/);
  });

  it("check prints the resolved table of a good file and exits 0", async () => {
    await writeFile(
      join(dir.path, "good.toml"),
      `[[services]]\nname = "pg"\nlistener = "any:5432"\nbackends = ["10.0.0.11:5432", { address = "10.0.0.12:5432", weight = 2 }]\n`,
    );
    const r = await sluice(["check", "--routing", "good.toml"]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /0\.0\.0\.0:5432/);
    assert.match(r.out, /10\.0\.0\.12:5432 \[weight 2\]/);
  });

  it("check exits 2 on a config with an unknown key, naming the file and key path", async () => {
    await writeFile(join(dir.path, "bad.toml"), `[listeners]\nport_mn = 2000\n`);
    const r = await sluice(["check", "-c", "bad.toml"]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /bad\.toml/);
    assert.match(r.out, /listeners\.port_mn/);
    assert.match(r.out, /port_min/, "a did-you-mean hint");
  });

  it("check exits 2 on an unparsable routing file, with line and column", async () => {
    await writeFile(join(dir.path, "broken.yaml"), `services:\n  - name: x\n    listener: [\n`);
    const r = await sluice(["check", "--routing", "broken.yaml"]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /broken\.yaml:\d+:\d+/);
  });

  it("check exits 2 on a YAML alias without an anchor, naming file, line and column", async () => {
    await writeFile(join(dir.path, "alias.yaml"), "log: *a\n");
    const r = await sluice(["check", "-c", "alias.yaml"]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /alias\.yaml:1:6: alias \*a has no anchor/);
    assert.doesNotMatch(r.out, /fatal/);
  });

  it("check exits 1 when a route is dropped, naming service and field", async () => {
    await writeFile(
      join(dir.path, "partly.json"),
      JSON.stringify({
        services: [
          { name: "ok", listener: "local:7000", backends: ["127.0.0.1:7001"] },
          { name: "far", listener: "local:80", backends: ["127.0.0.1:7001"] },
        ],
      }),
    );
    const r = await sluice(["check", "--routing", "partly.json"]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /far/);
    assert.match(r.out, /127\.0\.0\.1:7000/);
  });

  it("-config (dill's spelling) is accepted", async () => {
    await writeFile(join(dir.path, "c.toml"), `[listeners]\nport_min = 2000\n`);
    const r = await sluice(["check", "-config", "c.toml"]);
    assert.equal(r.code, 0, r.out);
  });

  it(
    "peek.listener on port 0: check accepts it and run serves peek on a port the log names",
    { timeout: 60_000 },
    async () => {
      // Regression: check (one parser) accepted "127.0.0.1:0" and run (another) failed to
      // start peek. Both now use the address parsed once at load.
      await writeFile(
        join(dir.path, "peek0.toml"),
        '[peek]\nlistener = "127.0.0.1:0"\n[admin]\nlistener = ""\n',
      );
      const c = await sluice(["check", "-c", "peek0.toml"]);
      assert.equal(c.code, 0, c.out);
      const p = spawnSluice(rt, ["run", "-c", "peek0.toml"], { cwd: dir.path });
      try {
        const line = await p.waitForLine(/peek listening/, 20_000);
        const m = /127\.0\.0\.1:(\d+)/.exec(line);
        assert.ok(m, line);
        const port = Number(m[1]);
        assert.ok(port > 0, line);
        assert.ok(!p.lines.some((l) => /peek listener failed/.test(l)), p.lines.join("\n"));
        const conn = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 5_000 });
        try {
          assert.match(await readAll(conn), /no listeners/);
        } finally {
          conn.close();
        }
        p.signal("SIGINT");
        assert.equal(await p.exited(10_000), 0);
      } finally {
        p.kill();
      }
    },
  );

  it(
    "run --forward twice on one port balances over both backends",
    { timeout: 60_000 },
    async () => {
      const a = startNamedServer(rt, "a");
      const b = startNamedServer(rt, "b");
      const port = await freePort(rt);
      const p = spawnSluice(rt, [
        "run",
        "--forward",
        `${port}:127.0.0.1:${a.port}`,
        "--forward",
        `local:${port}:127.0.0.1:${b.port}`,
      ], { cwd: dir.path, env: { SLUICE_ADMIN_LISTENER: "", SLUICE_LISTENERS_PORT_MAX: "65535" } });
      try {
        await waitFor(() => canConnect(rt, port), {
          timeoutMs: 20_000,
          what: "the forward listener",
        });
        const seen = new Set<string>();
        for (let i = 0; i < 4; i++) seen.add(await fetchBanner(rt, port));
        assert.deepEqual([...seen].sort(), ["a", "b"]);
        p.signal("SIGINT");
        assert.equal(await p.exited(10_000), 0);
      } finally {
        p.kill();
        a.close();
        b.close();
      }
    },
  );

  it("bootstrap writes a config and routing file that check accepts", async () => {
    const r = await sluice([
      "bootstrap",
      "--forward",
      "8080:127.0.0.1:9000",
      "--forward",
      "any:8443:[::1]:9443",
      "-o",
      "boot",
    ]);
    assert.equal(r.code, 0, r.out);
    const c = await sluice(["check", "-c", "boot/config.toml"]);
    assert.equal(c.code, 0, c.out);
    assert.match(c.out, /127\.0\.0\.1:8080/);
    assert.match(c.out, /\[::1\]:9443/);
  });
});
