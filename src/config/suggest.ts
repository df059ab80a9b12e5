/**
 * "Did you mean" for unknown config keys: the closest known key by edit distance, when it is close
 * enough to be a likely typo.
 */

/**
 * Edit distance between two strings: insertions, deletions, substitutions and swaps of two
 * neighbouring characters each count one (optimal string alignment), so `TREM` is one edit from `TERM`.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known key nearest to `key`, or null when none is within a third of the key's length
 * (at least 2 edits allowed), so unrelated words get no misleading suggestion.
 */
export function suggest(key: string, known: readonly string[]): string | null {
  const limit = Math.max(2, Math.floor(key.length / 3));
  let best: string | null = null;
  let bestDist = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDist) {
      best = k;
      bestDist = d;
    }
  }
  return bestDist <= limit ? best : null;
}
