// `sluice import iaido|tcpffee|tcpproxy FILE -o DIR` on each seed's documented example
// (tests/fixtures/seeds/): the files are written, every setting left behind is printed with
// its reason, the result passes `sluice check`, and an imported iaido config carries traffic.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { convertImport } from "../../src/cli/import/index.ts";
import {
  fetchBanner,
  freePort,
  ROOT,
  runtime,
  spawnSluice,
  startNamedServer,
  tempDir,
} from "../_support/helpers.ts";

const FIX = join(ROOT, "tests/fixtures/seeds");
let rt: Runtime;
before(async () => {
  rt = await runtime();
});

/** Runs a sluice command to its end; returns its exit code and output lines. */
async function sluice(args: string[], cwd?: string): Promise<{ code: number | null; out: string }> {
  const p = spawnSluice(rt, args, cwd ? { cwd } : {});
  const code = await p.exited(60_000);
  return { code, out: p.lines.join("\n") };
}

const CASES = [
  {
    kind: "iaido",
    file: "iaido/iaido.yaml",
    skipped: ["diagAddr"],
    listeners: 2,
  },
  {
    kind: "iaido",
    file: "iaido/crdb-local.yaml",
    skipped: [
      "diagAddr",
      "frontends[0].backendPool.tiers[0].dialFailureTimeout",
      "frontends[0].backendPool.tiers[0].maxBackendConnections",
    ],
    listeners: 2,
  },
  {
    kind: "tcpffee",
    file: "tcpffee/tcpffee.toml",
    skipped: [
      "raft_healthchecks_logs_bind_socket",
      "raft_stick_table_proposals_bind_socket",
      "peers",
      "stats_bind_socket",
    ],
    listeners: 3,
  },
  {
    kind: "tcpproxy",
    file: "tcpproxy/config.yaml",
    skipped: ["apps[3].targets[1]"],
    listeners: 13,
  },
] as const;

describe("sluice import: each seed's documented example", () => {
  for (const c of CASES) {
    it(`${c.kind} ${c.file}: writes both files, says what it left, passes sluice check`, {
      timeout: 120_000,
    }, async () => {
      const dir = await tempDir("sluice-import-");
      try {
        const r = await sluice(["import", c.kind, join(FIX, c.file), "-o", dir.path]);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /wrote .*config\.toml and .*routing\.toml/);
        for (const key of c.skipped) {
          const line = r.out.split("\n").find((l) => l.startsWith(`not carried over: ${key}: `));
          assert.ok(line, `"${key}" is reported:\n${r.out}`);
          assert.ok(line.length > `not carried over: ${key}: `.length + 10, "with a reason");
        }
        assert.match(r.out, new RegExp(`check: ok \\(${c.listeners} listener\\(s\\)\\)`));
        const check = await sluice(["check", "-c", join(dir.path, "config.toml")], dir.path);
        assert.equal(check.code, 0, check.out);
        assert.match(check.out, /^ok$/m);
      } finally {
        await dir.remove();
      }
    });
  }

  it("exits 2 naming the file for a wrong format or an unknown kind", {
    timeout: 60_000,
  }, async () => {
    const dir = await tempDir("sluice-import-");
    try {
      const wrong = await sluice([
        "import",
        "tcpffee",
        join(FIX, "tcpproxy/config.yaml"),
        "-o",
        dir.path,
      ]);
      assert.equal(wrong.code, 2);
      assert.match(wrong.out, /Cannot import .*config\.yaml/);
      const unknown = await sluice(["import", "haproxy", "x.cfg", "-o", dir.path]);
      assert.equal(unknown.code, 2);
      assert.match(unknown.out, /unknown format \(expected iaido, tcpffee or tcpproxy\)/);
    } finally {
      await dir.remove();
    }
  });
});

describe("sluice import: what is carried over", () => {
  it("iaido: tiers, idle timeout, grace period, labels", async () => {
    const text = await readFile(join(FIX, "iaido/crdb-local.yaml"), "utf8");
    const r = convertImport("iaido", text, "crdb-local.yaml");
    assert.deepEqual(r.config.listeners, {
      allowed: { local: "127.0.0.1" },
      port_min: 1024,
      port_max: 49151,
      drain_timeout: "30s",
    });
    const web = r.routing.services.find((s) => s.listener === "local:8080")!;
    assert.deepEqual(web.backends, [
      { address: "127.0.0.1:8081" },
      { address: "127.0.0.1:8082" },
      { address: "127.0.0.1:8083", tier: 1 },
    ]);
    assert.equal(web.idle_timeout, "1h");
    assert.equal(web.balance, "least_conn");
  });

  it("tcpffee: a service per port, portmap IP and table, drain, disabled, health", () => {
    const r = convertImport(
      "tcpffee",
      `bind_addr = "127.0.0.1"
ports = [5280, 5281]
expiration = 30
[groups.0]
portmap = "10.0.0.1"
drain = true
[groups.1]
portmap = "10.0.0.2"
disabled = true
[groups.2.portmap]
5281 = "10.0.0.3:3487"
[[groups.2.healthchecks]]
interval = 4
http_target = "/health"
http_method = "POST"
http_body = "Hello"
http_status = 201
`,
      "t.toml",
    );
    assert.deepEqual(r.routing.services.map((s) => [s.name, s.listener, s.backends]), [
      ["tcpffee-5280", "local:5280", [
        { address: "10.0.0.1:5280", group: "0", drain: true },
        { address: "10.0.0.2:5280", group: "1", disabled: true },
      ]],
      ["tcpffee-5281", "local:5281", [
        { address: "10.0.0.1:5281", group: "0", drain: true },
        { address: "10.0.0.2:5281", group: "1", disabled: true },
        { address: "10.0.0.3:3487", group: "2" },
      ]],
    ]);
    assert.deepEqual(r.routing.services[0]!.stick, { expiration: "30s" });
    assert.deepEqual(r.routing.services[0]!.health, {
      interval: "4s",
      timeout: "2s",
      fall: 3,
      rise: 5,
      type: "http",
      path: "/health",
      method: "POST",
      status: 201,
      body: "Hello",
    });
    assert.deepEqual(r.skipped, []);
  });

  it("tcpffee: several checks become a list with their fall_action", () => {
    const r = convertImport(
      "tcpffee",
      `ports = [5280]
[groups.0]
portmap = "10.0.0.1"
[[groups.0.healthchecks]]
timeout = 1
[[groups.0.healthchecks]]
fall_action = "Disabled"
http_target = "/health"
[[groups.0.healthchecks]]
fall_action = "Up"
[[groups.0.healthchecks]]
fall_action = "Sideways"
`,
      "t.toml",
    );
    const health = r.routing.services[0]!.health as Record<string, unknown>[];
    assert.deepEqual(health.map((h) => [h.type, h.fall_action, h.timeout]), [
      ["tcp", undefined, "1s"],
      ["http", "disable", "2.5s"],
      ["tcp", "ignore", "2.5s"],
      ["tcp", undefined, "2.5s"],
    ]);
    assert.deepEqual(r.routing.services[0]!.stick, { expiration: "10s" });
    assert.deepEqual(r.skipped.map((s) => s.key), ["groups.0.healthchecks[3].fall_action"]);
  });

  it("tcpproxy: an app per service on every port, duplicates once", async () => {
    const text = await readFile(join(FIX, "tcpproxy/config.yaml"), "utf8");
    const r = convertImport("tcpproxy", text, "config.yaml");
    assert.deepEqual(r.routing.services[0], {
      name: "five-thousand",
      listeners: ["any:5001", "any:5200", "any:5300", "any:5400"],
      backends: ["tcp-echo.fly.dev:5001", "tcp-echo.fly.dev:5002"],
      balance: "random",
    });
    assert.deepEqual(r.routing.services[3]!.backends, ["bad.target.for.testing:6003"]);
    assert.equal(r.skipped.length, 3);
  });
});

describe("sluice import: an imported iaido config runs", () => {
  it("serves the frontends with tier fail-over from the imported files", {
    timeout: 120_000,
  }, async () => {
    const near = startNamedServer(rt, "near");
    const far = startNamedServer(rt, "far");
    const port = await freePort(rt);
    const dir = await tempDir("sluice-import-run-");
    try {
      const yaml = join(dir.path, "iaido.yaml");
      await writeFile(
        yaml,
        `frontends:
  - bindAddress: 127.0.0.1:${port}
    backendPool:
      tiers:
        - targets:
            - hosts: [127.0.0.1]
              port: ${near.port}
        - targets:
            - hosts: [127.0.0.1]
              port: ${far.port}
`,
      );
      const out = join(dir.path, "sluice");
      const r = await sluice(["import", "iaido", yaml, "-o", out]);
      assert.equal(r.code, 0, r.out);
      const p = spawnSluice(rt, ["run", "-c", join(out, "config.toml")], {
        cwd: out,
        env: { SLUICE_ADMIN_LISTENER: "" },
      });
      try {
        await p.waitForLine(new RegExp(`listener opened listener=127\\.0\\.0\\.1:${port}`), 20_000);
        assert.equal(await fetchBanner(rt, port), "near");
        near.close();
        assert.equal(await fetchBanner(rt, port), "far");
      } finally {
        p.signal("SIGTERM");
        await p.exited(15_000).catch(() => p.kill());
      }
    } finally {
      near.close();
      far.close();
      await dir.remove();
    }
  });
});
