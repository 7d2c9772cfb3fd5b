// Fake SOCKS5 proxies on loopback for the dialer tests: scripted, honest and fixed-reply
// proxies, frame reading, and an assertion on the Socks5Error a dial rejects with.
import assert from "node:assert/strict";
import {
  encodeMethodSelection,
  encodeReply,
  encodeUserPassReply,
  parseGreeting,
  parseRequest,
  type ParseResult,
  parseUserPass,
  type Socks5Request,
} from "../../src/socks5/codec.ts";
import { createSocks5Dialer, type Socks5DialerOptions } from "../../src/socks5/dialer.ts";
import { Socks5Error } from "../../src/socks5/errors.ts";
import { SluiceError } from "../../src/errors.ts";
import { parseProxyUrl } from "../../src/routing/proxy_url.ts";
import type { Conn, Runtime } from "../../src/runtime/types.ts";
import { concat, startServer, type TestServer } from "../_support/helpers.ts";
import { within } from "../_support/wait.ts";

export const PASSWORD = "Pa55-w0rd-never-shown";

/** Reads from a fake proxy's accepted conn until `parse` has a whole frame. */
export async function readFrame<T>(
  c: Conn,
  state: { buf: Uint8Array },
  parse: (b: Uint8Array) => ParseResult<T>,
): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const r = parse(state.buf);
    if (r.status === "ok") {
      state.buf = state.buf.subarray(r.consumed);
      return r;
    }
    const chunk = await c.read({ signal: AbortSignal.timeout(5000) });
    if (chunk === null) throw new Error("client closed");
    state.buf = concat([state.buf, chunk]);
  }
  throw new Error("frame never completed");
}

/** Waits for the client's FIN or close on a fake proxy conn (bounded). */
export async function clientGone(c: Conn, ms = 5000): Promise<boolean> {
  const signal = AbortSignal.timeout(ms);
  try {
    for (let i = 0; i < 1000; i++) if ((await c.read({ signal })) === null) return true;
  } catch (err) {
    return (err as SluiceError).code !== "ETIMEDOUT" && (err as SluiceError).code !== "ABORTED";
  }
  return false;
}

export interface Seen {
  methods?: number[];
  user?: { username: string; password: string };
  request?: Socks5Request;
  /** Whether the dialer closed the proxy conn after the scripted answer */
  closedByClient?: boolean;
}

/**
 * A scripted SOCKS5 proxy: `script` answers over the raw conn after the parsed greeting.
 * Everything seen is recorded in `seen` (one entry per connection).
 */
export function fakeProxy(
  rt: Runtime,
  script: (c: Conn, s: { buf: Uint8Array }, seen: Seen) => Promise<void>,
): TestServer & { seen: Seen[] } {
  const seen: Seen[] = [];
  const server = startServer(rt, async (c) => {
    const entry: Seen = {};
    seen.push(entry);
    const state = { buf: new Uint8Array(0) };
    try {
      await script(c, state, entry);
    } finally {
      c.close();
    }
  });
  return Object.assign(server, { seen });
}

/** A well-behaved proxy that tunnels to a real backend over `rt.connect` (no auth or user/pass). */
export function honestProxy(
  rt: Runtime,
  o: { auth?: { username: string; password: string }; extraInReply?: Uint8Array } = {},
) {
  return fakeProxy(rt, async (c, s, seen) => {
    const g = await readFrame(c, s, parseGreeting);
    seen.methods = g.methods;
    if (o.auth) {
      await c.write(encodeMethodSelection(2));
      const u = await readFrame(c, s, parseUserPass);
      seen.user = { username: u.username, password: u.password };
      const ok = u.username === o.auth.username && u.password === o.auth.password;
      await c.write(encodeUserPassReply(ok ? 0 : 1));
      if (!ok) return;
    } else {
      await c.write(encodeMethodSelection(0));
    }
    const { request } = await readFrame(c, s, parseRequest);
    seen.request = request;
    let upstream: Conn;
    try {
      upstream = await rt.connect({ host: request.host, port: request.port, timeoutMs: 2000 });
    } catch {
      await c.write(encodeReply({ reply: 5, host: "0.0.0.0", port: 0 }));
      return;
    }
    // The reply and the backend's first bytes leave in one write: one TCP segment.
    const reply = encodeReply({ reply: 0, host: "127.0.0.1", port: 4242 });
    await c.write(o.extraInReply ? concat([reply, o.extraInReply]) : reply);
    if (s.buf.length) await upstream.write(s.buf.slice());
    await rt.splice(c, upstream);
  });
}

/** Answers the greeting with "no auth" and the CONNECT with `answer` (then maybe hangs up). */
export function replyingProxy(rt: Runtime, answer: Uint8Array, o: { thenHang?: boolean } = {}) {
  return fakeProxy(rt, async (c, s, seen) => {
    seen.methods = (await readFrame(c, s, parseGreeting)).methods;
    await c.write(encodeMethodSelection(0));
    seen.request = (await readFrame(c, s, parseRequest)).request;
    await c.write(answer);
    if (o.thenHang) seen.closedByClient = await clientGone(c);
  });
}

export function dialer(rt: Runtime, url: string, extra: Partial<Socks5DialerOptions> = {}) {
  return createSocks5Dialer({ rt, proxy: parseProxyUrl(url), ...extra });
}

/** Asserts a rejection, its class, code and kind; returns the error for further checks. */
export async function rejects(
  p: Promise<unknown>,
  want: { code: string; kind?: string; reply?: number; message?: RegExp },
): Promise<SluiceError> {
  let caught: unknown;
  try {
    const c = await within(p as Promise<Conn>, 10_000, "dial to settle");
    c.close();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SluiceError, `expected a SluiceError, got ${caught}`);
  assert.equal(caught.code, want.code, caught.message);
  if (want.kind !== undefined) {
    assert.ok(caught instanceof Socks5Error, `expected a Socks5Error, got ${caught.name}`);
    assert.equal(caught.kind, want.kind, caught.message);
    assert.equal(caught.reply, want.reply);
  }
  if (want.message) assert.match(caught.message, want.message);
  assert.ok(!caught.message.includes(PASSWORD), `password leaked: ${caught.message}`);
  return caught;
}

/**
 * Dials 10.0.0.9:80 through the proxy (no credentials, 3 s), asserts the rejection as
 * rejects() does and closes the proxy whatever happens.
 */
export async function dialRejects(
  rt: Runtime,
  proxy: { readonly port: number; close(): void },
  want: Parameters<typeof rejects>[1],
): Promise<SluiceError> {
  try {
    return await rejects(
      dialer(rt, `socks5://127.0.0.1:${proxy.port}`).dial({ host: "10.0.0.9", port: 80 }, {
        timeoutMs: 3000,
      }),
      want,
    );
  } finally {
    proxy.close();
  }
}
