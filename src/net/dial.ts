// How a backend is reached: the dial contract that the proxy engine, active health checks and
// the SOCKS5 client share. A neutral leaf: it imports only the runtime's Conn type.
import type { Conn } from "../runtime/types.ts";

export interface DialTarget {
  readonly host: string;
  readonly port: number;
}

export interface DialOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** Reaches a backend: directly, or through a SOCKS5 proxy. Rejects with a SluiceError. */
export interface Dialer {
  /** How the route is shown: undefined for direct, else the redacted proxy URL */
  readonly via?: string;
  dial(target: DialTarget, o: DialOptions): Promise<Conn>;
}
