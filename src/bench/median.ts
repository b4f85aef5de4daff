// The median benchmarks report: the middle of the sorted timings (the upper middle for an even count,
// so the figure is always one that was measured).

/** The middle value of xs once sorted (the upper of the two middles for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}
