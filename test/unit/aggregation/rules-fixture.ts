// Builds a RuleSet the way the rules loader does (schema defaults applied), from partial rules.

import type { PartitionAggregator } from '../../../src/aggregation/partition-aggregator.js';
import { Rule, type RuleInput, type RuleSet } from '../../../src/rules/schema.js';

const BASE = {
  activationThreshold: 0.2,
  retentionThreshold: 0.2,
  latencyP95Threshold: 450,
  minCohortSize: 10,
  evaluationWindowSeconds: 3600,
};

export function ruleSet(rules: (Partial<RuleInput> & { featureId: string })[], version = 'test'): RuleSet {
  const parsed = rules.map((r) => Rule.parse({ ...BASE, ...r }));
  return { version, rules: parsed, byFeature: new Map(parsed.map((r) => [r.featureId, r])) };
}

/** A guarded feature with every window (activation with an early landmark, retention, latency) and a cohort map. */
export const GUARDED_F1 = {
  featureId: 'f1',
  latencyP95Threshold: 300,
  activation: { action: { spanName: 'act' }, windowSeconds: 600, earlySeconds: 200 },
  retention: { returnAfterSeconds: 300, windowSeconds: 1200 },
  cohorts: { map: { on: 'treatment', off: 'control' } },
} satisfies Partial<RuleInput> & { featureId: string };

/** stats() without the memory figures, which depend on array capacities, not on the data. */
export function logicalStats(agg: PartitionAggregator): Record<string, unknown> {
  const { stateBytes: _s, markerBytes: _m, dedupeBytes: _d, histogramBytes: _h, approxBytes: _a, ...rest } = agg.stats();
  return rest;
}
