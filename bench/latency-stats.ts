/** Percentiles the way benchmark reports usually mean them: nearest rank on sorted samples. */

export interface LatencySummary {
  count: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile (p in 0..100) of samples that are already sorted ascending. */
export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentileOfSorted(sorted, 50),
    p95: percentileOfSorted(sorted, 95),
    p99: percentileOfSorted(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    mean: sorted.length > 0 ? sum / sorted.length : Number.NaN,
  };
}

/** A method measured against a reference in the same run: both summaries and their gaps. */
export interface ReferenceComparison {
  reference: LatencySummary;
  candidate: LatencySummary;
  /** candidate − reference at each percentile (NaN when either side has no samples). */
  gap: { p50: number; p95: number; p99: number };
}

export function compareWithReference(reference: readonly number[], candidate: readonly number[]): ReferenceComparison {
  const r = summarize(reference);
  const c = summarize(candidate);
  return { reference: r, candidate: c, gap: { p50: c.p50 - r.p50, p95: c.p95 - r.p95, p99: c.p99 - r.p99 } };
}

/** Issue 16's latency target: within 3 ms of the bare client at p50 and 10 ms at p99. */
export const referenceGapLimitMs = { p50: 3, p99: 10 } as const;

/** Met only with samples on both sides and both gaps within their limits (NaN never meets it). */
export function withinReferenceGap(comparison: ReferenceComparison, limits: { p50: number; p99: number } = referenceGapLimitMs): boolean {
  return comparison.gap.p50 <= limits.p50 && comparison.gap.p99 <= limits.p99;
}
