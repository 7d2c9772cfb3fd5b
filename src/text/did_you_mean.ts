// "did you mean" hints for misspelt keys, by Levenshtein distance.

/** Edit distance between two strings (insertions, deletions, substitutions). */
export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The closest known key when it is close enough to be a likely typo, else undefined. */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const w = word.toLowerCase();
  for (const k of known) {
    const d = levenshtein(w, k.toLowerCase());
    if (d < bestDistance) (best = k), (bestDistance = d);
  }
  // Short keys tolerate one edit, longer ones a third of their length.
  const limit = Math.max(1, Math.floor(Math.max(word.length, 3) / 3));
  return bestDistance <= limit ? best : undefined;
}

/** ` (did you mean "x"?)` or "" */
export function hint(word: string, known: readonly string[]): string {
  const c = closest(word, known);
  return c === undefined ? "" : ` (did you mean "${c}"?)`;
}
