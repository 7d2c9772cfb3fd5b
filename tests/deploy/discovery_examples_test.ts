// deploy/consul and deploy/nomad, checked as far as this machine allows. There is no consul or
// nomad binary and no HCL parser here, so:
// - the Nomad jobs' structure is read as text (system job, host network, checksummed artifact,
//   template, SIGHUP on change, kill timeout covering the drain);
// - the system job's config template is rendered by hand (its few {{ }} expressions) and run
//   against the Consul emulator with ACLs on, and the routing tags of the Consul service
//   definition and of the Nomad service job are registered there: sluice must open both
//   listeners, proxy to them, and warn about no tag;
// - the ACL policies grant reads only, and cover exactly the endpoints the providers call.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { type ConsulEmulator, startConsulEmulator } from "../_support/consul_emulator.ts";
import {
  fetchBanner,
  freePort,
  ROOT,
  runtime,
  spawnSluice,
  startNamedServer,
  tempDir,
} from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";

const read = (p: string) => readFileSync(join(ROOT, p), "utf8");
const systemJob = read("deploy/nomad/sluice.nomad.hcl");
const serviceJob = read("deploy/nomad/web.nomad.hcl");
const consulService = JSON.parse(read("deploy/consul/web.service.json")) as {
  service: { name: string; port: number; tags: string[] };
};

let rt: Runtime;
let dir: { path: string; remove(): Promise<void> };
let emu: ConsulEmulator;

before(async () => {
  rt = await runtime();
  dir = await tempDir("sluice-discovery-");
  emu = await startConsulEmulator({ jitter: false });
});
after(async () => {
  await emu?.close();
  await dir?.remove();
});

/** HCL text without comments, strings and heredocs (what is left is structure). */
function hclSkeleton(text: string): string {
  return text
    .replace(/<<-?(\w+)\n[\s\S]*?\n\s*\1\n/g, '""\n')
    .replace(/"(?:[^"\\\n]|\\.)*"/g, '""')
    .replace(/#.*$/gm, "");
}

function assertBalanced(name: string, text: string): void {
  let depth = 0;
  for (const ch of hclSkeleton(text)) {
    if (ch === "{" || ch === "[") depth++;
    if (ch === "}" || ch === "]") depth--;
    assert.ok(depth >= 0, `${name}: a closing brace without its opening one`);
  }
  assert.equal(depth, 0, `${name}: unbalanced braces`);
}

/** The string items of the first `tags = [...]` list. */
function hclTags(text: string): string[] {
  const m = /\btags\s*=\s*\[([\s\S]*?)\]/.exec(text);
  assert.ok(m, "a tags list");
  return [...(m[1] as string).matchAll(/"([^"]*)"/g)].map((x) => x[1] as string);
}

function seconds(d: string): number {
  const m = /^(\d+)(s|m)$/.exec(d);
  assert.ok(m, `a duration: ${d}`);
  return Number(m[1]) * (m[2] === "m" ? 60 : 1);
}

describe("deploy/nomad/sluice.nomad.hcl", () => {
  it("is a system job on the host network with a checksummed release artifact", () => {
    assertBalanced("sluice.nomad.hcl", systemJob);
    const s = hclSkeleton(systemJob);
    assert.match(systemJob, /^job "sluice" \{$/m);
    assert.match(systemJob, /^\s+type\s+=\s+"system"$/m);
    assert.match(systemJob, /network \{\s+mode = "host"/);
    const artifact = /artifact \{([\s\S]*?)\n {6}\}/.exec(systemJob)?.[1] ?? "";
    assert.match(
      artifact,
      /source\s+=\s+"\$\{var\.release_url\}\/v\$\{var\.version\}\/sluice-linux-x64"/,
    );
    assert.match(artifact, /checksum = "sha256:\$\{var\.sha256\}"/);
    // The checksum has no default: a run without it fails instead of trusting any download.
    assert.match(systemJob, /variable "sha256" \{\s+type\s+=\s+string\s+description[^\n]*\n\}/);
    assert.match(s, /args\s+=\s+\[/);
    assert.match(systemJob, /args\s+=\s+\["run", "-c", "local\/config\.toml"\]/);
    assert.match(systemJob, /destination\s+=\s+"local\/config\.toml"/);
    assert.match(systemJob, /change_signal = "SIGHUP"/);
  });

  it("gives sluice the drain time of its config before SIGKILL", () => {
    const kill = seconds(/kill_timeout\s+=\s+"([^"]+)"/.exec(systemJob)?.[1] ?? "");
    const drain = seconds(/drain_timeout = "([^"]+)"/.exec(systemJob)?.[1] ?? "");
    assert.ok(kill > drain, `kill_timeout ${kill}s must exceed drain_timeout ${drain}s`);
  });
});

describe("deploy/nomad/web.nomad.hcl and deploy/consul/web.service.json", () => {
  it("are well-formed and carry sluice's routing tags", () => {
    assertBalanced("web.nomad.hcl", serviceJob);
    assert.match(serviceJob, /^\s+type\s+=\s+"service"$/m);
    for (const tags of [hclTags(serviceJob), consulService.service.tags]) {
      assert.ok(tags.includes("sluice"), tags.join(", "));
      assert.ok(tags.some((t) => /^sluice\.listener=\w+:\d+$/.test(t)), tags.join(", "));
    }
  });

  it(
    "route through sluice run on the system job's rendered config",
    { timeout: 90_000 },
    async () => {
      const template = /data\s+=\s+<<EOH\n([\s\S]*?)\nEOH/.exec(systemJob)?.[1];
      assert.ok(template, "the system job has a config template");
      const adminPort = await freePort(rt);
      // What Nomad would render on a client whose address is 127.0.0.1, with the job's variables.
      let config = template
        .replaceAll('{{ env "attr.unique.network.ip-address" }}', "127.0.0.1")
        .replaceAll('{{ env "NOMAD_PORT_admin" }}', String(adminPort))
        .replaceAll('{{ with nomadVar "nomad/jobs/sluice" }}{{ .admin_token }}{{ end }}', "adm1n")
        .replaceAll('{{ with nomadVar "nomad/jobs/sluice" }}{{ .consul_token }}{{ end }}', "c0nsul")
        .replace("http://127.0.0.1:8500", emu.url);
      const live = config.split("\n").filter((l) => !l.trimStart().startsWith("#")).join("\n");
      assert.doesNotMatch(live, /\{\{/, "every template expression is rendered");
      // Tests bind loopback only: "any" becomes 127.0.0.1 here.
      config = config.replace('any = "0.0.0.0"', 'any = "127.0.0.1"');
      await writeFile(join(dir.path, "config.toml"), config);
      // ACLs on: sluice must send the template's token; anything else reads nothing.
      emu.acl({ enabled: true, defaultPolicy: "deny", tokens: { c0nsul: "all" } });

      const viaConsul = startNamedServer(rt, "consul-web");
      const viaNomad = startNamedServer(rt, "nomad-web");
      const consulPort = await freePort(rt);
      const nomadPort = await freePort(rt);
      const relisten = (tags: string[], port: number) =>
        tags.map((t) => t.replace(/^(sluice\.listener=\w+):\d+$/, `$1:${port}`));
      emu.register({
        id: "web-1",
        name: consulService.service.name,
        address: "127.0.0.1",
        port: viaConsul.port,
        tags: relisten(consulService.service.tags, consulPort),
      });
      emu.register({
        id: "web-nomad-1",
        name: "web-nomad",
        address: "127.0.0.1",
        port: viaNomad.port,
        tags: relisten(hclTags(serviceJob), nomadPort),
      });

      const p = spawnSluice(rt, ["run", "-c", join(dir.path, "config.toml")], { cwd: dir.path });
      try {
        await waitFor(
          async () => {
            const r = await fetch(`http://127.0.0.1:${adminPort}/api/v1/routing`, {
              headers: { authorization: "Bearer adm1n" },
              signal: AbortSignal.timeout(3000),
            }).catch(() => undefined);
            if (!r?.ok) return false;
            const body = await r.json() as { listeners: { address: string; state: string }[] };
            return [consulPort, nomadPort].every((port) =>
              body.listeners.some((l) =>
                l.address === `127.0.0.1:${port}` && l.state === "listening"
              )
            );
          },
          { timeoutMs: 30_000, intervalMs: 200, what: `both listeners:\n${p.lines.join("\n")}` },
        );
        assert.equal(await fetchBanner(rt, consulPort), "consul-web");
        assert.equal(await fetchBanner(rt, nomadPort), "nomad-web");
        assert.ok(
          emu.requests.every((r) => r.headers["x-consul-token"] === "c0nsul"),
          "every Consul request carries the token",
        );
        const warnings = p.lines.filter((l) => /tag ignored|route problem/.test(l));
        assert.deepEqual(warnings, [], "no tag of the examples is ignored or rejected");
        p.signal("SIGTERM");
        assert.equal(await p.exited(40_000), 0);
      } finally {
        p.kill();
        viaConsul.close();
        viaNomad.close();
      }
    },
  );
});

/** Paths after `${address}/v1/` in a provider's code (comments excluded). */
function calledEndpoints(file: string): string[] {
  const code = read(file).replace(/\/\/.*$/gm, "");
  const paths = [...code.matchAll(/\$\{address\}\/v1\/([a-z/]+)/g)].map((m) => m[1] as string);
  return [...new Set(paths)].sort();
}

/** Non-comment lines of a policy, whitespace squeezed. */
function rules(text: string): string {
  return text.split("\n").filter((l) => !l.trimStart().startsWith("#")).join(" ")
    .replace(/\s+/g, " ").trim();
}

describe("ACL policies", () => {
  it("Consul: service and node read, covering exactly the endpoints the provider calls", () => {
    const policy = read("deploy/consul/sluice-policy.hcl");
    assertBalanced("consul/sluice-policy.hcl", policy);
    assert.equal(
      rules(policy),
      'service_prefix "" { policy = "read" } node_prefix "" { policy = "read" }',
    );
    const called = calledEndpoints("src/providers/consul.ts");
    assert.deepEqual(called, ["health/service/", "health/state/any"]);
    for (const e of called) assert.ok(policy.includes(`GET /v1/${e}`), `the policy explains ${e}`);
  });

  it("Nomad: read-job only, covering exactly the endpoints the provider calls", () => {
    const policy = read("deploy/nomad/sluice-policy.hcl");
    assertBalanced("nomad/sluice-policy.hcl", policy);
    assert.equal(rules(policy), 'namespace "*" { capabilities = ["read-job"] }');
    const called = calledEndpoints("src/providers/nomad.ts");
    assert.deepEqual(called, ["service/", "services"]);
    for (const e of called) assert.ok(policy.includes(`GET /v1/${e}`), `the policy explains ${e}`);
  });
});
