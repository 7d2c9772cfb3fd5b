// Traffic control end to end: sluice sends PROXY headers (v1, v2; IPv4, IPv6) that real
// consumers accept: HAProxy `accept-proxy` and nginx stream `proxy_protocol`.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { freePort, readAll, tempDir } from "../_support/helpers.ts";
import {
  HAPROXY,
  NGINX,
  type PeerDaemon,
  startHaproxy,
  startNginxStream,
} from "../_support/peer_daemon.ts";
import { type SluiceFixture, startSluiceFixture } from "./_sluice_fixture.ts";
import { decodedThrough, hostPort, LO4, LO6, rt, startDecoder, v4, v6 } from "./_traffic.ts";

describe(
  "sluice sends PROXY headers that real consumers accept",
  { skip: HAPROXY ? false : "haproxy is not installed (tests/_support/install_peers.sh)" },
  () => {
    let dir: { path: string; remove(): Promise<void> };
    let decoder: ReturnType<typeof startDecoder>;
    let haproxy: PeerDaemon | undefined;
    let nginx: PeerDaemon | undefined;
    let fx: SluiceFixture | undefined;
    const p = { hpIn: 0, ngxIn: 0, v1hp: 0, v2hp: 0, v1ngx: 0, v2ngx: 0 };
    const p6 = { v1hp: 0, v2hp: 0, v1ngx: 0, v2ngx: 0 };

    before(async () => {
      dir = await tempDir("sluice-pp-out-");
      decoder = startDecoder();
      for (const k of Object.keys(p) as (keyof typeof p)[]) p[k] = await freePort(rt);
      for (const k of Object.keys(p6) as (keyof typeof p6)[]) p6[k] = await freePort(rt, LO6);
      // HAProxy takes our header (accept-proxy) and re-sends its own v2 to the decoder: what
      // reaches the decoder is what HAProxy understood from sluice.
      haproxy = await startHaproxy(
        dir.path,
        `frontend from_sluice
  bind ${LO4}:${p.hpIn} accept-proxy
  default_backend to_decoder
backend to_decoder
  server decoder ${LO4}:${decoder.port} send-proxy-v2
`,
        { rt, ready: [{ host: LO4, port: p.hpIn }] },
      );
      if (NGINX) {
        // nginx answers with the addresses it parsed from sluice's header and closes.
        nginx = await startNginxStream(
          dir.path,
          `  server {
    listen ${LO4}:${p.ngxIn} proxy_protocol;
    return "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port\\n";
  }`,
          { rt, ready: [{ host: LO4, port: p.ngxIn }] },
        );
      }
      const svc = (name: string, v: "v1" | "v2", port: number, port6: number, to: number) =>
        `[[services]]
name = "${name}"
listeners = ["local:${port}", "v6:${port6}"]
backends = ["${LO4}:${to}"]
proxy_protocol = "${v}"
`;
      fx = await startSluiceFixture({
        rt,
        routing: svc("v1hp", "v1", p.v1hp, p6.v1hp, p.hpIn) +
          svc("v2hp", "v2", p.v2hp, p6.v2hp, p.hpIn) +
          svc("v1ngx", "v1", p.v1ngx, p6.v1ngx, p.ngxIn) +
          svc("v2ngx", "v2", p.v2ngx, p6.v2ngx, p.ngxIn),
      });
      await fx.waitListening([
        ...[p.v1hp, p.v2hp, p.v1ngx, p.v2ngx].map((x) => hostPort(LO4, x)),
        ...[p6.v1hp, p6.v2hp, p6.v1ngx, p6.v2ngx].map((x) => hostPort(LO6, x)),
      ]);
    });

    after(async () => {
      await fx?.stop();
      await haproxy?.stop();
      await nginx?.stop();
      decoder?.close();
      await dir?.remove();
    });

    for (const v of ["v1", "v2"] as const) {
      it(`${v} over IPv4: HAProxy passes on the client's address and source port`, {
        timeout: 30_000,
      }, async () => {
        const port = v === "v1" ? p.v1hp : p.v2hp;
        const { seen, client } = await decodedThrough(LO4, port);
        assert.equal(client.host, LO4);
        assert.deepEqual(seen, { src: v4(LO4, client.port), dst: v4(LO4, port) });
      });

      it(`${v} over IPv6: a client on ::1 reaches HAProxy's consumer as ::1`, {
        timeout: 30_000,
      }, async () => {
        const port = v === "v1" ? p6.v1hp : p6.v2hp;
        const { seen, client } = await decodedThrough(LO6, port);
        assert.equal(client.host, LO6);
        assert.deepEqual(seen, { src: v6(LO6, client.port), dst: v6(LO6, port) });
      });

      for (const [fam, host] of [["IPv4", LO4], ["IPv6", LO6]] as const) {
        it(`${v} over ${fam}: nginx's $proxy_protocol_addr/port are the client's`, {
          timeout: 30_000,
          skip: NGINX ? false : "nginx with the stream module is not installed",
        }, async () => {
          const port = host === LO4
            ? (v === "v1" ? p.v1ngx : p.v2ngx)
            : (v === "v1" ? p6.v1ngx : p6.v2ngx);
          const c = await rt.connect({ host, port, timeoutMs: 5000 });
          try {
            const said = await readAll(c, { timeoutMs: 10_000 });
            assert.equal(said, `${host} ${c.local.port} ${host} ${port}\n`);
          } finally {
            c.close();
          }
        });
      }
    }
  },
);
