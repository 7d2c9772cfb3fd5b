// The slice of Bun's API that the Bun adapter uses, typed here instead of through bun-types:
// a `/// <reference types="bun-types" />` would add Bun's global overrides (URL, fetch, ...) to
// every program that imports the adapter, and break `deno check` for unrelated modules.
// Names and shapes follow bun-types 1.4 (node_modules/bun-types/bun.d.ts).
import { SluiceError } from "../../errors.ts";

export interface BunSocket<Data> {
  data: Data;
  write(data: Uint8Array): number;
  end(): void;
  shutdown(halfClose?: boolean): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay?: boolean): boolean;
  setKeepAlive(enable?: boolean, initialDelay?: number): boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

export interface BunSocketHandler<Data> {
  binaryType?: "uint8array";
  open?(s: BunSocket<Data>): void;
  data?(s: BunSocket<Data>, d: Uint8Array): void;
  drain?(s: BunSocket<Data>): void;
  end?(s: BunSocket<Data>): void;
  close?(s: BunSocket<Data>, err?: Error): void;
  error?(s: BunSocket<Data>, err: Error): void;
  /** A dial failed (refused, unreachable); the promise of connect() rejects too. */
  connectError?(s: BunSocket<Data>, err: Error): void;
}

export interface BunTcpListener {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

export interface BunListenOptions<Data> {
  hostname: string;
  port: number;
  allowHalfOpen?: boolean;
  reusePort?: boolean;
  backlog?: number;
  data?: Data;
  socket: BunSocketHandler<Data>;
}

export interface BunConnectOptions<Data> {
  hostname: string;
  port: number;
  allowHalfOpen?: boolean;
  data?: Data;
  socket: BunSocketHandler<Data>;
}

export interface BunServer {
  readonly port?: number;
  readonly hostname?: string;
  requestIP(req: Request): { address: string; port: number; family: string } | null;
  stop(closeActiveConnections?: boolean): Promise<void>;
}

export interface BunServeOptions {
  hostname: string;
  port: number;
  idleTimeout?: number;
  fetch(req: Request, server: BunServer): Response | Promise<Response>;
}

export interface BunApi {
  readonly version: string;
  listen<Data>(o: BunListenOptions<Data>): BunTcpListener;
  connect<Data>(o: BunConnectOptions<Data>): Promise<BunSocket<Data>>;
  serve(o: BunServeOptions): BunServer;
}

/** `globalThis.Bun`, read at call time (this module also loads under Deno for type-checks). */
export function bunApi(): BunApi {
  const b = (globalThis as { Bun?: BunApi }).Bun;
  if (!b) throw new SluiceError("EUNKNOWN", "Cannot use the Bun adapter: not running on Bun");
  return b;
}
