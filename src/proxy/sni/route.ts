// Picks the pool of a connection on a listener that routes by TLS server name: reads the
// ClientHello (bounded in bytes and time; the bytes are given back to the connection, so the
// chosen backend receives them first and unchanged) and asks the listener's matcher.
import type { Conn } from "../../runtime/types.ts";
import { DEFAULTS } from "../../defaults.ts";
import type { SniPick } from "../../routing/sni_match.ts";
import type { SniRouting } from "../listener.ts";
import type { Pool } from "../pool.ts";
import { readClientHello } from "./read_client_hello.ts";

/** What the ClientHello said and where it leads. */
export interface SniDecision {
  /** The pool that takes the connection; undefined: close it. */
  readonly pick: SniPick<Pool> | undefined;
  /** The server name the client sent, if any. */
  readonly name: string | undefined;
  /**
   * How reading ended: "name", "no_sni", "not_tls", "too_large", "eof" (every one of them goes
   * to the default when no name matched), "timeout" (partial ClientHello: closed; nothing at
   * all: the default, for protocols where the server speaks first), "aborted".
   */
  readonly outcome: string;
}

export async function decideSni(
  sni: SniRouting,
  client: Conn,
  signal?: AbortSignal,
): Promise<SniDecision> {
  const { result, bytes } = await readClientHello(client, {
    maxBytes: DEFAULTS.sni.maxBytes,
    timeoutMs: sni.timeoutMs,
    ...(signal ? { signal } : {}),
  });
  switch (result.kind) {
    case "name":
      return { pick: sni.matcher.pick(result.name), name: result.name, outcome: "name" };
    case "timeout":
      // A client that started a ClientHello and stalled is closed; one that sent nothing
      // may speak a protocol where the server speaks first: the default takes it.
      return {
        pick: bytes.length === 0 ? sni.matcher.pick(undefined) : undefined,
        name: undefined,
        outcome: "timeout",
      };
    case "aborted":
      return { pick: undefined, name: undefined, outcome: "aborted" };
    case "eof":
      // Closed before sending anything: nothing to route.
      if (bytes.length === 0) return { pick: undefined, name: undefined, outcome: "eof" };
      return { pick: sni.matcher.pick(undefined), name: undefined, outcome: "eof" };
    default:
      return { pick: sni.matcher.pick(undefined), name: undefined, outcome: result.kind };
  }
}
