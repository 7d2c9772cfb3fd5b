// connect() on Bun. A native Bun.connect cannot be cancelled: one that lost a timeout race
// keeps its fd until the kernel gives up (~2 min), while node:net's destroy() frees it at once.
// So a destination is dialed through node:net until it has answered once, natively after that,
// and through node:net again for a while after a native dial to it was abandoned; and at most
// MAX_PENDING_NATIVE native dials wait at once, which bounds the fds abandoned dials can hold.
// That state (the dial policy) belongs to the adapter that createBunDialer() serves.
import { formatHostPort } from "../../net/host_port.ts";
import { connect as netConnect, isIP } from "node:net";
import { SluiceError } from "../../errors.ts";
import { type AbortWatch, watchAbort } from "../_abort_watch.ts";
import { bareHost, sockAddr } from "../_addr.ts";
import { type IdleEntry, idleSweeper } from "../_idle_sweeper.ts";
import { bunApi, type BunSocketHandler } from "./bun_api.ts";
import { BunConn } from "./conn.ts";
import { dialError } from "./dial_error.ts";
import { nativeHandlers, type NativeSocket, NativeTransport, type PendingDial } from "./native.ts";
import { NodeTransport } from "./node_transport.ts";
import type { Conn, ConnectOptions, SockAddr } from "../types.ts";

/** Native dials waiting for their answer at most at once (see the top of the file). */
const MAX_PENDING_NATIVE = 256;
/**
 * A destination that answered a dial: dialed natively while listed. It also keeps what every
 * dial to it would otherwise work out again (its address object, whether the host is an IP).
 */
interface Destination {
  readonly host: string;
  readonly port: number;
  readonly target: SockAddr;
  readonly targetIsIp: boolean;
}
const MAX_ANSWERED = 4096;

/**
 * The dial policy's state, owned by the adapter (createBunDialer): which destinations have
 * answered (dialed natively while listed) and how many native dials are pending.
 */
class DialPolicy {
  pendingNative = 0;
  /** host -> port -> destination: a lookup per dial builds no key string. */
  readonly #answered = new Map<string, Map<number, Destination>>();
  /** Every listed destination, oldest first, for the bound of MAX_ANSWERED. */
  readonly #order = new Set<Destination>();

  find(host: string, port: number): Destination | undefined {
    return this.#answered.get(host)?.get(port);
  }

  mark(host: string, port: number): void {
    if (this.find(host, port)) return;
    const target = sockAddr(host, port);
    const d: Destination = { host, port, target, targetIsIp: isIP(target.host) !== 0 };
    let ports = this.#answered.get(host);
    if (!ports) this.#answered.set(host, ports = new Map());
    ports.set(port, d);
    this.#order.add(d);
    if (this.#order.size > MAX_ANSWERED) this.forget(this.#order.values().next().value!);
  }

  forget(d: Destination): void {
    if (!this.#order.delete(d)) return;
    const ports = this.#answered.get(d.host);
    ports?.delete(d.port);
    if (ports?.size === 0) this.#answered.delete(d.host);
  }
}

/** connect() for one adapter, with a dial policy of its own. */
export function createBunDialer(): (o: ConnectOptions) => Promise<Conn> {
  const policy = new DialPolicy();
  return (o) => {
    if (o.signal?.aborted) return Promise.reject(aborted(o));
    const host = bareHost(o.host);
    const d = policy.pendingNative < MAX_PENDING_NATIVE ? policy.find(host, o.port) : undefined;
    return d ? nativeConnect(o, d, policy) : nodeConnect(o, host, policy);
  };
}

function timedOut(o: ConnectOptions): SluiceError {
  return new SluiceError(
    "ETIMEDOUT",
    `Cannot connect to ${formatHostPort(o.host, o.port)}: timed out after ${o.timeoutMs} ms`,
  );
}

function aborted(o: ConnectOptions): SluiceError {
  return new SluiceError("ABORTED", `Cannot connect to ${formatHostPort(o.host, o.port)}: aborted`);
}

/**
 * A native dial in flight: settled once, by the socket, its deadline or the signal. It is its
 * own deadline entry (the shared sweeper, not a timer per dial) and abort target.
 */
class NativeDial implements IdleEntry, PendingDial {
  settled = false;
  /** Bun reported the dial's end (open or failure): it no longer counts as pending. */
  #over = false;
  /** IdleEntry: when the dial started; the sweeper ends it `idleMs` later. */
  readonly lastActivity = Date.now();
  readonly idleMs: number;
  readonly t: NativeTransport;
  readonly #o: ConnectOptions;
  readonly #dest: Destination;
  readonly #policy: DialPolicy;
  readonly #resolve: (c: Conn) => void;
  readonly #reject: (e: Error) => void;
  readonly #watch: AbortWatch | undefined;

  constructor(
    o: ConnectOptions,
    dest: Destination,
    policy: DialPolicy,
    t: NativeTransport,
    resolve: (c: Conn) => void,
    reject: (e: Error) => void,
  ) {
    this.#o = o;
    this.#dest = dest;
    this.#policy = policy;
    this.t = t;
    this.#resolve = resolve;
    this.#reject = reject;
    policy.pendingNative++;
    this.idleMs = o.timeoutMs;
    idleSweeper.add(this);
    this.#watch = o.signal && watchAbort(o.signal, this);
  }

  onIdle(): void {
    this.#abandon(timedOut(this.#o));
  }

  onAbort(): void {
    this.#abandon(aborted(this.#o));
  }

  #end(): void {
    if (this.#over) return;
    this.#over = true;
    this.#policy.pendingNative--;
  }

  #settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    idleSweeper.delete(this);
    this.#watch?.cancel();
    return true;
  }

  /** Timed out or aborted: the socket cannot be cancelled, so it is closed once it opens. */
  #abandon(e: SluiceError): void {
    if (!this.#settle()) return;
    // The destination may be a black hole: dial it through node:net for a while.
    this.#policy.forget(this.#dest);
    this.#reject(e);
  }

  opened(s: NativeSocket): void {
    this.#end();
    // An abort the lazy watch has not passed on yet still wins.
    if (this.#o.signal?.aborted) this.#abandon(aborted(this.#o));
    if (!this.#settle()) {
      s.data = undefined;
      s.terminate();
      return;
    }
    this.t.s = s;
    // Now, while the socket knows them: Bun forgets addresses once a socket is closed, and
    // logs name closed conns.
    this.t.conn.readAddresses();
    this.#resolve(this.t.conn);
  }

  failed(e: unknown): void {
    this.#end();
    if (!this.#settle()) return;
    this.#reject(dialError(e, `connect to ${this.#o.host}:${this.#o.port}`));
  }
}

/** The dial of a transport whose socket has not opened yet, taken once (a field, not a map). */
function takeDial(t: NativeTransport | undefined): PendingDial | undefined {
  const d = t?.dial;
  if (d) t.dial = undefined;
  return d;
}

const dialHandlers: BunSocketHandler<NativeTransport | undefined> = {
  ...nativeHandlers((s) => {
    const d = takeDial(s.data);
    if (!d) return void s.terminate();
    d.opened(s);
  }),
  connectError(s, err) {
    takeDial(s.data)?.failed(err);
  },
};

function nativeConnect(o: ConnectOptions, dest: Destination, policy: DialPolicy): Promise<Conn> {
  return new Promise<Conn>((resolve, reject) => {
    const t = new NativeTransport(new BunConn(), dest.target, dest.targetIsIp);
    const d = new NativeDial(o, dest, policy, t, resolve, reject);
    t.dial = d;
    try {
      bunApi().connect<NativeTransport | undefined>({
        hostname: dest.host,
        port: dest.port,
        allowHalfOpen: true,
        data: t,
        socket: dialHandlers,
      }).catch((e) => takeDial(t)?.failed(e));
    } catch (e) {
      takeDial(t)?.failed(e);
    }
  });
}

function nodeConnect(o: ConnectOptions, host: string, policy: DialPolicy): Promise<Conn> {
  return new Promise<Conn>((resolve, reject) => {
    const s = netConnect({ host, port: o.port, allowHalfOpen: true, noDelay: true });
    const fail = (e: SluiceError) => {
      cleanup();
      s.destroy(); // frees the fd even while the SYN is unanswered
      reject(e);
    };
    // The deadline is an entry of the shared sweeper, as a native dial's is.
    const deadline: IdleEntry = {
      lastActivity: Date.now(),
      idleMs: o.timeoutMs,
      onIdle: () => fail(timedOut(o)),
    };
    idleSweeper.add(deadline);
    const onError = (e: Error) =>
      fail(dialError(e, `connect to ${formatHostPort(o.host, o.port)}`));
    const onConnect = () => {
      if (o.signal?.aborted) return fail(aborted(o));
      cleanup();
      policy.mark(host, o.port);
      const conn = new BunConn();
      new NodeTransport(s, conn, sockAddr(host, o.port));
      resolve(conn);
    };
    const watch = o.signal && watchAbort(o.signal, () => fail(aborted(o)));
    function cleanup() {
      idleSweeper.delete(deadline);
      watch?.cancel();
      s.off("error", onError);
      s.off("connect", onConnect);
    }
    s.once("error", onError);
    s.once("connect", onConnect);
  });
}
