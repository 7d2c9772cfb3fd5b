// One open connection as the listener holds it: what a drain timeout or shutdown closes.
// Apart from connection.ts so that the listener needs nothing of the connection handler.
import type { ByteCounters, Conn } from "../runtime/types.ts";

/**
 * One open connection as its listener sees it, and its live byte counters (up = client ->
 * backend, down = backend -> client; the splice counts into it directly). Kept small: there is
 * one per open connection, idle ones included. No AbortController: closing the two sockets ends
 * a splice or a pending read just as well, and a dial is bounded by connect_timeout.
 */
export interface ActiveConnection extends ByteCounters {
  readonly client: Conn;
  upstream: Conn | undefined;
  /** Set when the connection must end now (drain timeout): no further dial is attempted. */
  closed: boolean;
}

/** Ends an open connection at once (drain timeout, shutdown): both sockets are closed. */
export function closeConnection(c: ActiveConnection): void {
  c.closed = true;
  c.client.close();
  c.upstream?.close();
}
