// A verdict with every field filled, for tests of what consumes verdicts (history, report, page, webhooks).

import type { Outcome, Verdict } from '../../src/events/verdict.js';

export function verdict(o: { id: string; at: number; outcome?: Outcome; cohort?: string; feature?: string; n?: number; estimate?: number | null; reason?: string }): Verdict {
  const m = (threshold: number) => ({ n: o.n ?? 10, estimate: o.estimate === undefined ? 0.2 : o.estimate, lower: 0.1, upper: 0.3, threshold, status: 'pending' as const });
  return {
    verdictId: o.id, feature: o.feature ?? 'f', cohort: o.cohort ?? 'treatment', outcome: o.outcome ?? 'pending',
    metrics: { activation: m(0.15), retention: m(0.4), latencyP95: { ...m(200), estimate: o.estimate === undefined ? 180 : o.estimate, lower: 170, upper: 190 } },
    srm: { status: 'ok', pValue: 0.5, counts: {} }, ruleVersion: 'v', evaluatedAt: new Date(o.at).toISOString(), inputOffsets: {}, reason: o.reason ?? o.outcome ?? 'pending',
  };
}
