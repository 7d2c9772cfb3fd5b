// The container image, checked as far as this machine allows (no container runtime here; the
// release workflow builds and runs the image itself): every file the Dockerfile copies exists
// and passes .dockerignore, and the binary it packs (`bun build --compile`, as dist/sluice)
// runs `version`, accepts the image's config, reads SLUICE_* variables and answers the
// image's HEALTHCHECK command.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { VERSION } from "../../src/version.ts";
import { freePort, ROOT, runtime, spawnSluice, tempDir } from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";

const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const dockerignore = readFileSync(join(ROOT, ".dockerignore"), "utf8");
const binary = join(ROOT, "dist", "sluice");

let rt: Runtime;
let dir: { path: string; remove(): Promise<void> };

/** Newest modification time of main.ts, deno.json and everything under src/. */
function newestSource(): number {
  let newest = Math.max(
    statSync(join(ROOT, "main.ts")).mtimeMs,
    statSync(join(ROOT, "deno.json")).mtimeMs,
  );
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(join(ROOT, "src"));
  return newest;
}

before(async () => {
  rt = await runtime();
  dir = await tempDir("sluice-container-");
  // compile_test.ts (which sorts first) has built dist/sluice in this run; build it only when
  // it is missing or older than the sources, with the same command.
  if (!existsSync(binary) || statSync(binary).mtimeMs < newestSource()) {
    const r = spawnSync(join(ROOT, "node_modules/deno/deno"), ["task", "compile"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 180_000,
    });
    assert.equal(r.status, 0, `deno task compile failed:\n${r.stdout}\n${r.stderr}`);
  }
});
after(() => dir?.remove());

/** Instructions with their continuation lines joined, comments dropped. */
function instructions(text: string): string[] {
  return text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("#")
  );
}

/** Sources of every COPY that reads the build context (not --from=another stage). */
function contextCopies(): string[] {
  const sources: string[] = [];
  for (const line of instructions(dockerfile)) {
    const m = /^COPY\s+(.*)$/i.exec(line);
    if (!m) continue;
    const words = (m[1] as string).split(/\s+/);
    if (words.some((w) => w.startsWith("--from="))) continue;
    const args = words.filter((w) => !w.startsWith("--"));
    sources.push(...args.slice(0, -1));
  }
  return sources;
}

/** .dockerignore's verdict on a path: the last matching pattern wins ("!" re-includes). */
function ignored(path: string): boolean {
  let out = false;
  for (const raw of dockerignore.split("\n").map((l) => l.trim())) {
    if (raw === "" || raw.startsWith("#")) continue;
    const neg = raw.startsWith("!");
    const pat = (neg ? raw.slice(1) : raw).replace(/^\.?\//, "");
    const matches = pat === "**" || pat === path || pat.replace(/\/$/, "") === path ||
      (pat.endsWith("/**") && path.startsWith(pat.slice(0, -2))) ||
      (pat.endsWith("/") && path.startsWith(pat));
    if (matches) out = !neg;
  }
  return out;
}

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(binary, args, {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 30_000,
    env: { ...cleanEnv(), ...env },
  });
}

function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("SLUICE_") && !k.startsWith("DILL_")) env[k] = v;
  }
  return env;
}

describe("Dockerfile", () => {
  it("copies only files that exist and that .dockerignore lets into the context", () => {
    const sources = contextCopies();
    assert.ok(sources.length >= 6, `COPY sources: ${sources.join(", ")}`);
    for (const s of ["package-lock.json", "main.ts", "src", "deploy/docker/config.toml"]) {
      assert.ok(sources.includes(s), `the Dockerfile copies ${s}`);
    }
    for (const s of sources) {
      assert.ok(existsSync(join(ROOT, s)), `COPY ${s}: no such file in the repository`);
      assert.ok(!ignored(s), `COPY ${s}: excluded by .dockerignore`);
    }
    assert.ok(ignored("node_modules"), ".dockerignore keeps node_modules out");
    assert.ok(ignored("dist/sluice"), ".dockerignore keeps dist out");
  });

  it("builds with package.json's compile command, runs as non-root, documents its ports", () => {
    const compile = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts.compile;
    assert.match(compile, /^bun build --compile --minify /);
    assert.match(dockerfile, /bun build --compile --minify --target="\$target" main\.ts/);
    assert.match(dockerfile, /^USER 65532:65532$/m);
    assert.match(dockerfile, /^EXPOSE 9090$/m);
    assert.match(dockerfile, /^EXPOSE 4444$/m);
    assert.match(dockerfile, /^CMD \["run", "-c", "\/etc\/sluice\/config\.toml"\]$/m);
  });
});

describe("the binary the image packs", () => {
  it("runs version", () => {
    const r = run(["version"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^sluice ${VERSION.replace(/\./g, "\\.")} \\(bun `));
  });

  it("accepts the image's config, and reads SLUICE_* variables over it", () => {
    const ok = run(["check", "-c", "deploy/docker/config.toml"]);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    const bad = run(["check", "-c", "deploy/docker/config.toml"], {
      SLUICE_ADMIN_LISTENER: "0.0.0.0:9090",
    });
    assert.equal(bad.status, 2, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /SLUICE_ADMIN_LISTENER/);
  });

  it("answers the image's HEALTHCHECK command while it runs, not after", {
    timeout: 60_000,
  }, async () => {
    const m = /^HEALTHCHECK\s.*?\bCMD\s+(\[.*\])$/m.exec(instructions(dockerfile).join("\n"));
    assert.ok(m, "the Dockerfile has a HEALTHCHECK in exec form");
    const argv = (JSON.parse(m[1] as string) as string[]).map((a) =>
      a.replace("/etc/sluice/", dir.path + "/")
    );
    assert.equal(argv[0], "/usr/local/bin/sluice");
    await copyFile(join(ROOT, "deploy/docker/config.toml"), join(dir.path, "config.toml"));
    await copyFile(join(ROOT, "deploy/docker/routing.toml"), join(dir.path, "routing.toml"));
    // The image's config as it is, but the admin API on a free port (a SLUICE_* variable, as an
    // operator would set it) so that nothing else on this machine collides.
    const env = { SLUICE_ADMIN_LISTENER: `127.0.0.1:${await freePort(rt)}` };
    const p = spawnSluice(rt, ["run", "-c", join(dir.path, "config.toml")], {
      binary,
      cwd: dir.path,
      env,
    });
    try {
      await waitFor(() => run(argv.slice(1), env).status === 0, {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: `the HEALTHCHECK to pass:\n${p.lines.join("\n")}`,
      });
      p.signal("SIGTERM");
      assert.equal(await p.exited(20_000), 0);
      const down = run(argv.slice(1), env);
      assert.equal(down.status, 1, down.stdout + down.stderr);
      assert.match(down.stderr, /unhealthy/);
    } finally {
      p.kill();
    }
  });
});
