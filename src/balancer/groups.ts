// Hash identities of a pool: tcpffee's server groups. A backend's identity is its `group` label,
// by default its host, so a service listening on several ports whose backends are the same hosts
// on other ports ranks those hosts alike for a client on every port: the client lands on the
// same host everywhere. Several backends of one pool sharing a group (two ports of 127.0.0.1)
// are told apart by their rank in port order ("127.0.0.1#1"), which pairs them up across
// listeners the same way. Pure.

export interface GroupMember {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly group?: string;
}

/** The hash identity of each backend, in the order given. */
export function hashIds(pool: readonly GroupMember[]): string[] {
  const byGroup = new Map<string, number[]>();
  pool.forEach((b, i) => {
    const g = b.group ?? b.host;
    const list = byGroup.get(g);
    if (list) list.push(i);
    else byGroup.set(g, [i]);
  });
  const out = new Array<string>(pool.length);
  for (const [g, idx] of byGroup) {
    if (idx.length === 1) {
      out[idx[0]!] = g;
      continue;
    }
    idx.sort((a, b) => pool[a]!.port - pool[b]!.port || (pool[a]!.key < pool[b]!.key ? -1 : 1));
    idx.forEach((i, rank) => out[i] = rank === 0 ? g : `${g}#${rank}`);
  }
  return out;
}
