// weighted: smooth weighted round robin (nginx): every pick adds each candidate's weight to its
// running score, takes the highest and subtracts the total from it. Weights 5:1:1 give
// a a b a c a a, never a burst of five to one backend. Weight 0 is a last resort only.
import type { Candidate, ClientInfo, Strategy } from "./types.ts";

interface Score {
  current: number;
  /** The call number that last saw this key, to forget backends that left. */
  seen: number;
}

/** Entries unseen for this many calls are dropped (backends removed from routing). */
const FORGET_AFTER = 4096;

export function createWeighted(): Strategy {
  const scores = new Map<string, Score>();
  let calls = 0;
  return {
    name: "weighted",
    order<C extends Candidate>(candidates: readonly C[], _client: ClientInfo): C[] {
      calls++;
      const live: C[] = [];
      const zero: C[] = [];
      for (const c of candidates) (c.weight > 0 ? live : zero).push(c);
      if (live.length === 0) return zero;
      let total = 0;
      let best: C | undefined;
      let bestScore: Score | undefined;
      for (const c of live) {
        let s = scores.get(c.key);
        if (!s) scores.set(c.key, s = { current: 0, seen: calls });
        s.current += c.weight;
        s.seen = calls;
        total += c.weight;
        if (!bestScore || s.current > bestScore.current) {
          best = c;
          bestScore = s;
        }
      }
      bestScore!.current -= total;
      // Failover order after the pick: the next most owed, so retries follow the same shares.
      const rest = live.filter((c) => c !== best).sort((a, b) =>
        scores.get(b.key)!.current - scores.get(a.key)!.current
      );
      if (calls % FORGET_AFTER === 0) {
        for (const [k, s] of scores) if (calls - s.seen >= FORGET_AFTER) scores.delete(k);
      }
      return [best!, ...rest, ...zero];
    },
  };
}
