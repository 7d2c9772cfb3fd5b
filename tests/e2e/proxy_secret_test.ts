// A SOCKS password never leaks, even from a proxy URL that does not parse (issue 12, bug 11):
// neither `sluice check` nor the warnings of `sluice run` show any part of it, and neither does
// the error about a provider address with credentials that does not parse.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { freePort, runtime, spawnSluice, tempDir } from "../_support/helpers.ts";

let rt: Runtime;
let dir: { path: string; remove(): Promise<void> };

before(async () => {
  rt = await runtime();
  dir = await tempDir();
});
after(() => dir?.remove());

/** Passwords (and parts of them) that must not appear anywhere in the output. */
const SECRETS = ["se/cretX9", "cretX9", "p@Zq7", "Zq7@", "hunter2Qv", "w0rd#kK"];

function routing(port: number): string {
  const svc = (name: string, p: number, proxy?: string) =>
    `[[services]]\nname = "${name}"\nlistener = "local:${p}"\nbackends = ["127.0.0.1:9"]\n` +
    (proxy ? `proxy = ${JSON.stringify(proxy)}\n` : "") + "\n";
  return svc("ok", port) +
    svc("slash", port + 1, "socks5://user:se/cretX9@127.0.0.1:1080") +
    svc("at", port + 2, "socks5://user:p@Zq7@host:99999") +
    svc("noscheme", port + 3, "user:p@Zq7@host:99999") +
    svc("badport", port + 4, "socks5://user:hunter2Qv@127.0.0.1:http") +
    svc("hash", port + 5, "socks5h://user:w0rd#kK@10.0.0.1:1080");
}

function assertNoSecret(out: string): void {
  for (const s of SECRETS) assert.equal(out.includes(s), false, `"${s}" leaked:\n${out}`);
}

describe("proxy passwords in messages", () => {
  it("sluice check names the dropped services and shows no password", async () => {
    await writeFile(join(dir.path, "r.toml"), routing(20_000));
    await writeFile(join(dir.path, "c.toml"), `[listeners]\nallowed = { local = "127.0.0.1" }\n`);
    const p = spawnSluice(rt, ["check", "-c", "c.toml", "--routing", "r.toml"], { cwd: dir.path });
    const code = await p.exited(30_000);
    const out = p.lines.join("\n");
    assert.equal(code, 1, out);
    for (const name of ["slash", "at", "noscheme", "badport", "hash"]) {
      assert.match(out, new RegExp(`problem: .*${name}`), out);
    }
    assert.match(out, /user:\*\*\*@/);
    assertNoSecret(out);
  });

  it("sluice check shows no password of a provider address that does not parse", async () => {
    await writeFile(
      join(dir.path, "consul.toml"),
      `[routing.consul]\naddress = "http://user:se/cretX9@consul.internal:8500"\n`,
    );
    const p = spawnSluice(rt, ["check", "-c", "consul.toml"], { cwd: dir.path });
    const code = await p.exited(30_000);
    const out = p.lines.join("\n");
    assert.equal(code, 2, out);
    assert.match(out, /routing\.consul\.address/);
    assertNoSecret(out);
  });

  it("sluice run warns about the dropped services and shows no password", async () => {
    const port = await freePort(rt);
    await writeFile(join(dir.path, "run.toml"), routing(port));
    await writeFile(
      join(dir.path, "run_config.toml"),
      `[listeners]\nallowed = { local = "127.0.0.1" }\nport_min = 1024\nport_max = 65535\n\n` +
        `[admin]\nlistener = ""\n\n[routing.file]\npath = "run.toml"\n`,
    );
    const p = spawnSluice(rt, ["run", "-c", "run_config.toml"], { cwd: dir.path });
    try {
      await p.waitForLine(/listener opened/, 20_000);
      for (const name of ["slash", "at", "noscheme", "badport", "hash"]) {
        await p.waitForLine(new RegExp(`route (problem|dropped).*${name}`), 10_000);
      }
      p.signal("SIGTERM");
      await p.exited(15_000);
      assertNoSecret(p.lines.join("\n"));
    } finally {
      p.kill();
    }
  });
});
