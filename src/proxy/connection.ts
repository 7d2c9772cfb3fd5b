// One client connection, from accept to close: limits, backend choice with failover, the
// splice, and the access-log line. Every path closes both sockets.
import type { Conn, Runtime, SockAddr, SpliceEndReason } from "../runtime/types.ts";
import { selectBackends } from "../balancer/select.ts";
import type { ClientInfo } from "../balancer/types.ts";
import { formatRoute } from "../routing/proxy_url.ts";
import { readKeyBytes } from "../balancer/first_bytes.ts";
import { errorCode, errorMessage, resourceErrno } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { LiveBackend } from "./backend.ts";
import type { LiveListener } from "./listener.ts";
import type { ActiveConnection } from "./active_connection.ts";
import { encodeProxyV1, encodeProxyV2, readProxyHeader } from "./proxy_protocol.ts";
import type { Dialer } from "../net/dial.ts";
import type { EngineObserver } from "./types.ts";
import type { Pool } from "./pool.ts";
import { decideSni } from "./sni/route.ts";
import { formatHostPort } from "../net/host_port.ts";
import type { StickTable } from "../balancer/stick_table.ts";
import { stickKey, stuckFirst } from "./stick.ts";

/** How long a trusted peer may take to send its PROXY header. */
const PROXY_HEADER_TIMEOUT_MS = 5000;
/**
 * How long `hash_key = "first_bytes:..."` waits for the key bytes before choosing with what
 * arrived (fewer bytes, or none: then the client IP is the key). Protocols where the server
 * speaks first never send them, so this bounds the delay they would see.
 */
const FIRST_BYTES_TIMEOUT_MS = 1000;

export interface ConnectionContext {
  readonly rt: Runtime;
  readonly log: Logger;
  readonly access: Logger;
  accessLog: boolean;
  halfCloseTimeoutMs: number;
  readonly observer: EngineObserver | undefined;
  dialerFor(b: LiveBackend): Dialer;
  /** Client keys stuck to a backend group (services with `stick`) */
  readonly stick: StickTable;
}

type EndReason =
  | SpliceEndReason
  | "no_backend"
  | "proxy_protocol"
  | "local_resource"
  | "sni_timeout"
  | "sni_unmatched";

/** The route as peek shows it, for log lines; undefined when direct (`backend` says it all). */
function routeText(b: LiveBackend): string | undefined {
  return b.via ? formatRoute(b.via, b.plan.address) : undefined;
}

/** What a strategy other than `hash` is given: none of them reads the client. */
const ANY_CLIENT: ClientInfo = { ip: "" };

function hostPort(a: SockAddr): string {
  return formatHostPort(a.host, a.port);
}

export async function handleConnection(
  ctx: ConnectionContext,
  l: LiveListener,
  client: Conn,
): Promise<void> {
  const max = l.plan.settings.maxConnections;
  if (max > 0 && l.counters.active >= max) {
    l.counters.refused++;
    client.close();
    if (ctx.log.enabled("debug")) {
      ctx.log.debug("connection refused: max_connections", {
        listener: l.key,
        client_addr: hostPort(client.remote),
      });
    }
    return;
  }
  const started = performance.now();
  const conn: ActiveConnection = { up: 0, down: 0, client, upstream: undefined, closed: false };
  l.conns.add(conn);
  l.counters.active++;
  l.counters.total++;
  let clientAddr = client.remote;
  let localAddr = client.local;
  let backend: LiveBackend | undefined;
  let pool: Pool | undefined;
  /** SNI listeners: the server name sent and the service that took it. */
  let sniName: string | undefined;
  let service: string | undefined;
  let reason: EndReason = "error";
  let lastError = "";
  /** The stick-table key, when the listener sticks */
  let stuck: string | undefined;
  try {
    if (l.plan.accept.acceptProxyProtocol) {
      if (!l.trusted(clientAddr.host)) {
        reason = "proxy_protocol";
        lastError = `source ${clientAddr.host} is not in trusted_proxies`;
        ctx.log.warn("PROXY header from an untrusted source: closed", {
          listener: l.key,
          client_addr: hostPort(clientAddr),
        });
        client.close();
        return;
      }
      try {
        const h = await readProxyHeader(client, { timeoutMs: PROXY_HEADER_TIMEOUT_MS });
        if (h.src) clientAddr = h.src;
        if (h.dst) localAddr = h.dst;
      } catch (err) {
        reason = "proxy_protocol";
        lastError = errorMessage(err);
        ctx.log.warn("bad PROXY header: closed", {
          listener: l.key,
          client_addr: hostPort(clientAddr),
          error: lastError,
        });
        client.close();
        return;
      }
    }
    // Plain listeners pay nothing here: no read before the backend is chosen.
    let p = l.main;
    if (l.sni) {
      const d = await decideSni(l.sni, client);
      sniName = d.name;
      if (d.outcome === "timeout") l.sniCounters.timeouts++;
      if (!d.pick) {
        if (d.outcome === "timeout") {
          reason = "sni_timeout";
          lastError = `no complete TLS ClientHello within sni_timeout (${l.sni.timeoutMs} ms)`;
        } else if (d.outcome === "eof") {
          reason = "eof";
        } else if (d.outcome === "aborted") {
          reason = "aborted";
        } else {
          l.sniCounters.unmatched++;
          reason = "sni_unmatched";
          lastError = d.name === undefined
            ? `no server name (${d.outcome}) and no default service`
            : `no service takes server name "${d.name}" and there is no default service`;
        }
        client.close();
        return;
      }
      p = d.pick.service;
      service = d.pick.label;
    }
    pool = p;
    p.connections.active++;
    p.connections.total++;
    const s = p.settings;
    const hashing = s.balance === "hash";
    const hashKey = hashing ? s.hashKey : undefined;
    const keyBytes = hashKey !== undefined && hashKey.kind !== "client_ip"
      ? await readKeyBytes(client, {
        start: hashKey.start,
        end: hashKey.end,
        timeoutMs: FIRST_BYTES_TIMEOUT_MS,
      })
      : undefined;
    const info: ClientInfo = !hashing && !s.stick
      ? ANY_CLIENT
      : keyBytes
      ? { ip: clientAddr.host, keyBytes }
      : { ip: clientAddr.host };
    const selected = selectBackends(p.candidates, p.strategy, info);
    const failOpen = selected.failOpen;
    // Keyed by the pool's service: on an SNI listener each service has a table of its own.
    stuck = s.stick ? stickKey(p.service ?? l.plan.services[0] ?? "", hashKey, info) : undefined;
    const order = stuck
      ? stuckFirst(ctx.stick, stuck, p.candidates, selected.order)
      : selected.order;
    if (failOpen !== p.failingOpen) {
      p.failingOpen = failOpen;
      if (failOpen) {
        ctx.log.warn("no healthy backend: trying unhealthy ones (fail open)", { listener: l.key });
      } else ctx.log.info("healthy backends again: fail open ended", { listener: l.key });
    }
    // connect_attempts 0: every backend of the pool, as tcpproxy tries all its targets; the
    // attempts together stop at connect_budget, so a client never waits for a long dead list.
    const attempts = s.connectAttempts > 0
      ? Math.min(order.length, s.connectAttempts)
      : order.length;
    const budgetEnd = performance.now() + s.connectBudgetMs;
    for (let i = 0; i < attempts && !conn.closed; i++) {
      const b = order[i]!;
      const t0 = performance.now();
      const left = budgetEnd - t0;
      if (i > 0 && left <= 0) {
        lastError = `${lastError} (connect_budget of ${s.connectBudgetMs}ms spent after ${i} ` +
          `of ${attempts} attempts)`;
        break;
      }
      const dialOptions = left < p.dialOptions.timeoutMs
        ? { ...p.dialOptions, timeoutMs: Math.max(1, Math.ceil(left)) }
        : p.dialOptions;
      // Count the connection on the backend as soon as it is chosen, so that least_conn and
      // p2c see a burst of new connections spread instead of piling on one backend.
      b.counters.active++;
      try {
        // The plan is the dial target (host, port): no objects made per connection.
        conn.upstream = await ctx.dialerFor(b).dial(b.plan, dialOptions);
        // Closed by a drain timeout while the dial ran: this socket must not outlive it.
        if (conn.closed) conn.upstream.close();
        ctx.observer?.connectDone?.(l.key, b.key, (performance.now() - t0) / 1000, true);
        if (b.ejector.ejections > 0) {
          ctx.log.info("backend connects again: ejection ended", {
            listener: l.key,
            backend: b.plan.address,
            via: b.via,
          });
        }
        b.ejector.success();
        backend = b;
        if (stuck && b.hashId !== undefined) ctx.stick.set(stuck, b.hashId, s.stick!.expirationMs);
        break;
      } catch (err) {
        b.counters.active--;
        if (errorCode(err) === "ERESOURCE") {
          // Out of descriptors or buffers here: not the backend's fault, so no failure is
          // counted and nothing is ejected; the next backend would fail the same way.
          p.backendDone(b);
          reason = "local_resource";
          lastError = `ERESOURCE: ${errorMessage(err)}`;
          const errno = resourceErrno(err);
          ctx.observer?.localResourceError?.(l.key, errno);
          ctx.log.warn("local resource exhausted: connection closed", {
            listener: l.key,
            backend: b.plan.address,
            errno,
            error: errorMessage(err),
          });
          break;
        }
        b.counters.connectFailures++;
        if (!conn.closed) {
          const before = b.ejector.ejections;
          b.ejector.failure();
          // Logged when the back-off starts, not for every refused connect while it runs.
          if (b.ejector.ejections > before) {
            ctx.log.warn("backend ejected after consecutive connect failures", {
              listener: l.key,
              backend: b.plan.address,
              via: b.via,
              for_ms: Math.max(0, b.ejector.until - Date.now()),
              ejections: b.ejector.ejections,
            });
          }
        }
        p.backendDone(b);
        ctx.observer?.connectDone?.(l.key, b.key, (performance.now() - t0) / 1000, false);
        lastError = `${errorCode(err)}: ${errorMessage(err)}`;
        if (!conn.closed) {
          ctx.log.warn("backend connect failed", {
            listener: l.key,
            backend: b.plan.address,
            via: b.via,
            route: routeText(b),
            attempt: i + 1,
            error: lastError,
          });
        }
      }
    }
    const upstream = conn.upstream;
    if (!upstream || !backend || conn.closed) {
      if (reason !== "local_resource") reason = "no_backend";
      if (order.length === 0) lastError = "no backend in the pool can take connections";
      client.close();
      return;
    }
    backend.counters.total++;
    backend.live.add(conn);
    if (s.proxyProtocol) {
      // The header goes before any client byte; the client's bytes wait in its socket.
      const encode = s.proxyProtocol === "v1" ? encodeProxyV1 : encodeProxyV2;
      await upstream.write(encode(clientAddr, localAddr));
    }
    const result = await ctx.rt.splice(client, upstream, {
      idleTimeoutMs: s.idleTimeoutMs,
      halfCloseTimeoutMs: ctx.halfCloseTimeoutMs,
      counters: conn,
    });
    // Closed by the drain timeout: say so, not the socket error that closing caused.
    reason = conn.closed ? "aborted" : result.reason;
    if (result.error && !conn.closed) lastError = errorMessage(result.error);
  } catch (err) {
    // Nothing above is expected to throw; if it does, no socket may leak.
    lastError = errorMessage(err);
    client.close();
    conn.upstream?.close();
  } finally {
    l.counters.active--;
    l.counters.bytesUp += conn.up;
    l.counters.bytesDown += conn.down;
    if (backend) {
      backend.live.delete(conn);
      backend.counters.active--;
      backend.counters.bytesUp += conn.up;
      backend.counters.bytesDown += conn.down;
      pool?.backendDone(backend);
    }
    if (pool) pool.connections.active--;
    l.connectionDone(conn);
    // Idle time counts from the end of the last connection, not its start.
    if (stuck && backend) ctx.stick.touch(stuck);
    const seconds = (performance.now() - started) / 1000;
    ctx.observer?.connectionDone?.(l.key, seconds);
    if (ctx.accessLog) {
      ctx.access.info("connection", {
        listener: l.key,
        client_addr: hostPort(clientAddr),
        sni: sniName,
        service: service ?? backend?.plan.service,
        backend: backend?.plan.address,
        via: backend?.via,
        route: backend ? routeText(backend) : undefined,
        bytes_in: conn.up,
        bytes_out: conn.down,
        duration_ms: Math.round(seconds * 1000),
        reason,
        error: reason === "eof" ? undefined : lastError || undefined,
      });
    }
  }
}
