// Hash identities of a pool: tcpffee's server groups. A backend's identity is its `group` label,
// by default its host, so a service listening on several ports whose backends are the same hosts
// on other ports ranks those hosts alike for a client on every port: the client lands on the
// same host everywhere. When several backends of one pool share a group (two ports of
// 127.0.0.1, or one label given twice), each keeps its own key instead: a group must name one
// backend per listener, and ranks by port order would move every client of the host whenever
// one of its backends came or went. Pure.

export interface GroupMember {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly group?: string;
}

/** The hash identity of each backend, in the order given. */
export function hashIds(pool: readonly GroupMember[]): string[] {
  const count = new Map<string, number>();
  for (const b of pool) {
    const g = b.group ?? b.host;
    count.set(g, (count.get(g) ?? 0) + 1);
  }
  return pool.map((b) => {
    const g = b.group ?? b.host;
    return count.get(g) === 1 ? g : b.key;
  });
}
