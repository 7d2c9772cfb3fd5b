// connect() on Deno: Deno.connect with a signal of its own, ended by the dial's deadline (an
// entry of the shared sweeper) or the caller's signal.
import { formatHostPort } from "../../net/host_port.ts";
import { SluiceError } from "../../errors.ts";
import { watchAbort } from "../_abort_watch.ts";
import { bareHost } from "../_addr.ts";
import { toSluiceError } from "../_errors.ts";
import { type IdleEntry, idleSweeper } from "../_idle_sweeper.ts";
import { closeQuietly, DenoConn } from "./conn.ts";
import type { Conn, ConnectOptions } from "../types.ts";

/**
 * What ends a dial early: its deadline (an entry of the shared sweeper, not a timer per dial)
 * or the caller's signal. Deno.connect can only be cancelled through a signal of its own.
 */
class DialDeadline implements IdleEntry {
  readonly ac = new AbortController();
  readonly lastActivity = Date.now();
  readonly idleMs: number;
  timedOut = false;

  constructor(timeoutMs: number) {
    this.idleMs = timeoutMs;
    idleSweeper.add(this);
  }

  onIdle(): void {
    this.timedOut = true;
    this.ac.abort();
  }

  onAbort(): void {
    this.ac.abort();
  }
}

export async function connect(o: ConnectOptions): Promise<Conn> {
  const action = `connect to ${formatHostPort(o.host, o.port)}`;
  if (o.signal?.aborted) throw new SluiceError("ABORTED", `Cannot ${action}: aborted`);
  const deadline = new DialDeadline(o.timeoutMs);
  const watch = o.signal && watchAbort(o.signal, deadline);
  try {
    const raw = await Deno.connect({
      hostname: bareHost(o.host),
      port: o.port,
      transport: "tcp",
      signal: deadline.ac.signal,
    });
    if (o.signal?.aborted) {
      // Aborted while the lazy watch had not passed it on yet: the abort still wins.
      closeQuietly(raw);
      throw new SluiceError("ABORTED", `Cannot ${action}: aborted`);
    }
    return new DenoConn(raw);
  } catch (e) {
    if (e instanceof SluiceError) throw e;
    if (deadline.timedOut) {
      throw new SluiceError("ETIMEDOUT", `Cannot ${action}: timed out after ${o.timeoutMs} ms`);
    }
    if (o.signal?.aborted) {
      throw new SluiceError("ABORTED", `Cannot ${action}: aborted`, { cause: e });
    }
    throw toSluiceError(e, action);
  } finally {
    idleSweeper.delete(deadline);
    watch?.cancel();
  }
}
