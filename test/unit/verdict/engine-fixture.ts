// The verdict engine tests' shared inputs: rules for the guarded feature 'f' (treatment guarded
// against control) parsed as the rules loader does, and one cohort's snapshot whose requests all
// took the same latency, so each test file writes only what its cases vary.

import { LatencyHistogram } from '../../../src/events/latency-histogram.js';
import type { CohortPartial } from '../../../src/events/cohort-stats.js';
import { parseRules } from '../../../src/rules/load.js';

export const HOUR = 3600_000;
export const T0 = Date.UTC(2026, 10, 1);

/** Feature 'f' with the thresholds every engine test uses; `rule` adds or overrides fields. */
export function guardedRules(rule: Record<string, unknown>) {
  return parseRules(JSON.stringify({
    version: 'r1',
    rules: [{
      featureId: 'f', activationThreshold: 0.15, retentionThreshold: 0.4, latencyP95Threshold: 200,
      cohorts: { control: 'control', guarded: ['treatment'] }, ...rule,
    }],
  }));
}

/** A cohort of `exposed` users with `requests` requests of `latencyMs` each (slow above 200 ms), nothing matured. */
export function cohortPartial(o: { cohort: string; exposed: number; latencyMs: number; requests: number; partition?: number; offset?: string; watermark?: number }): CohortPartial {
  const h = new LatencyHistogram();
  h.record(o.latencyMs, o.requests);
  return {
    feature: 'f', cohort: o.cohort, partition: o.partition ?? 0, offset: o.offset ?? '0', watermark: o.watermark ?? 0, firstExposureAt: T0, exposed: o.exposed,
    activation: { matured: 0, successes: 0 }, retention: { matured: 0, successes: 0 },
    latency: { count: o.requests, slow: o.latencyMs > 200 ? o.requests : 0, users: o.exposed, sumN2: 0, sumSlow2: 0, sumNSlow: 0, histogram: h.serialize().toString('base64') },
    cohortSwitches: 0,
  };
}
