// The PMF score of a cohort: one number from 0 to 100 that says how far its guarded metrics are on
// the good side of their thresholds, from its latest verdict.
//
//   For each metric that has an estimate, its relative margin over the threshold, in the good
//   direction (activation and retention: higher is better; latency P95: lower is better):
//       margin = (estimate − threshold) / threshold          (activation, retention)
//       margin = (threshold − estimate) / threshold          (latency P95)
//   clipped to [−0.5, +0.5], becomes a part score 0.5 + margin in [0, 1]: exactly at the threshold
//   is 50, 50 % or more better is 100, 50 % or more worse is 0. A metric whose guard failed scores
//   at most 25 (its evidence outweighs a lucky estimate); one that passed at least 50.
//   The score is the mean of the part scores × 100, rounded; null when no metric has an estimate.
//
// A threshold of 0 (a metric switched off) has no margin and is left out.

import type { MetricVerdict, Verdict } from '../events/verdict.js';

const LOWER_IS_BETTER = new Set(['latencyP95']);

export function metricScore(name: string, m: MetricVerdict): number | null {
  if (m.estimate === null || !(m.threshold > 0)) return null;
  const raw = LOWER_IS_BETTER.has(name) ? (m.threshold - m.estimate) / m.threshold : (m.estimate - m.threshold) / m.threshold;
  let part = 0.5 + Math.max(-0.5, Math.min(0.5, raw));
  if (m.status === 'fail') part = Math.min(part, 0.25);
  if (m.status === 'pass') part = Math.max(part, 0.5);
  return part;
}

export function pmfScore(v: Pick<Verdict, 'metrics'>): number | null {
  const parts = Object.entries(v.metrics)
    .map(([name, m]) => metricScore(name, m))
    .filter((p): p is number => p !== null);
  if (parts.length === 0) return null;
  return Math.round((100 * parts.reduce((a, b) => a + b, 0)) / parts.length);
}
