// deploy/systemd/sluice.service: accepted by `systemd-analyze verify` (Debian's systemd package;
// skipped where it is missing) and hardened the way the README promises.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ROOT, tempDir } from "../_support/helpers.ts";

const ANALYZE = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find((p) => existsSync(p));
const skip = ANALYZE ? false : "systemd-analyze is not installed (Debian package systemd)";
const unit = readFileSync(join(ROOT, "deploy/systemd/sluice.service"), "utf8");

let dir: { path: string; remove(): Promise<void> };
let fakeBinary: string;

before(async () => {
  dir = await tempDir("sluice-systemd-");
  // verify checks that ExecStart's program exists and is executable: stand one in for the
  // release binary at /usr/local/bin/sluice.
  fakeBinary = join(dir.path, "sluice");
  await writeFile(fakeBinary, "#!/bin/sh\nexit 0\n");
  await chmod(fakeBinary, 0o755);
});
after(() => dir?.remove());

/** systemd-analyze verify on `text` saved as NAME.service; exit code and all output. */
async function verify(
  text: string,
  name = "sluice",
): Promise<{ code: number | null; out: string }> {
  const path = join(dir.path, `${name}.service`);
  await writeFile(path, text.replaceAll("/usr/local/bin/sluice", fakeBinary));
  const r = spawnSync(ANALYZE!, ["verify", path], {
    cwd: dir.path,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, SYSTEMD_LOG_COLOR: "0" },
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

/** The value of the last `key=` line of the unit. */
function directive(key: string): string | undefined {
  const all = [...unit.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))];
  return all.at(-1)?.[1]?.trim();
}

describe("deploy/systemd/sluice.service", () => {
  it("passes systemd-analyze verify with no warning", { skip }, async () => {
    const r = await verify(unit);
    assert.equal(r.code, 0, r.out);
    // Unknown keys and bad values are only warnings (exit 0): none is allowed either.
    assert.equal(r.out, "", r.out);
  });

  it("the check can fail: a misspelt key warns, a missing binary fails", { skip }, async () => {
    const typo = await verify(unit.replace("NoNewPrivileges=", "NoNewPrivilegs="), "typo");
    assert.match(typo.out, /Unknown key/);
    const missing = await verify(
      unit.replace("ExecStart=/usr/local/bin/sluice", "ExecStart=/nonexistent/sluice"),
      "missing",
    );
    assert.notEqual(missing.code, 0, missing.out);
  });

  it("is hardened: own user, only CAP_NET_BIND_SERVICE, read-only system, many fds", () => {
    assert.ok(directive("DynamicUser") === "yes" || directive("User"), "DynamicUser or User");
    assert.equal(directive("AmbientCapabilities"), "CAP_NET_BIND_SERVICE");
    assert.equal(directive("CapabilityBoundingSet"), "CAP_NET_BIND_SERVICE");
    assert.equal(directive("NoNewPrivileges"), "yes");
    assert.equal(directive("ProtectSystem"), "strict");
    assert.ok(Number(directive("LimitNOFILE")) >= 65536, "a high LimitNOFILE");
    assert.equal(directive("MemoryDenyWriteExecute"), undefined, "the JIT needs W+X memory");
  });

  it("runs sluice on /etc/sluice/config.toml, restarts on failure, reloads with SIGHUP", () => {
    assert.equal(directive("ExecStart"), "/usr/local/bin/sluice run -c /etc/sluice/config.toml");
    assert.equal(directive("Restart"), "on-failure");
    assert.match(directive("ExecReload") ?? "", /^\/bin\/kill -HUP \$MAINPID$/);
    assert.equal(directive("WantedBy"), "multi-user.target");
  });
});
