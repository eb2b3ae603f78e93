import { describe, expect, it } from 'vitest';
import { Rule, type RuleInput } from '../../../src/rules/schema.js';
import { alphaBudget, guardsOf } from '../../../src/verdict/statistics/alpha-budget.js';

const base: RuleInput = {
  featureId: 'f',
  activationThreshold: 0.15,
  retentionThreshold: 0.4,
  latencyP95Threshold: 200,
  minCohortSize: 100,
  evaluationWindowSeconds: 3600,
};

describe('alphaBudget', () => {
  it('splits α − α_srm over metrics × comparisons × guarded cohorts by the guard weights', () => {
    const rule = Rule.parse({
      ...base,
      activation: { action: { spanName: 'click' } },
      cohorts: { control: 'control', guarded: ['a', 'b'] },
      guardrails: { maxActivationDrop: 0.02, maxRetentionDrop: 0.02, maxP95Increase: 0.1 },
    });
    expect(guardsOf(rule)).toHaveLength(6);
    const b = alphaBudget(rule, 2);
    expect(b.alphaSrm).toBe(0.001);
    // Weights 1 (thresholds, P95 vs control) and 2 (rate guardrails): 8 per cohort, 16 in all.
    expect(b.byGuard.latencyP95).toBeCloseTo(0.049 / 16, 15);
    expect(b.byGuard['activation-vs-control']).toBeCloseTo((2 * 0.049) / 16, 15);
    const total = Object.values(b.byGuard).reduce((s, x) => s + x, 0) * 2;
    expect(total + b.alphaSrm).toBeCloseTo(rule.alpha, 15);
  });

  it('counts only measurable metrics and only configured comparisons', () => {
    const noAction = Rule.parse({ ...base, cohorts: { control: 'c' }, guardrails: { maxP95Increase: 0.1 } });
    expect(guardsOf(noAction)).toEqual([
      { metric: 'retention', comparison: 'threshold' },
      { metric: 'latencyP95', comparison: 'threshold' },
      { metric: 'latencyP95', comparison: 'vs-control' },
    ]);
    const noControl = Rule.parse({ ...base, guardrails: { maxP95Increase: 0.1 } });
    expect(guardsOf(noControl)).toHaveLength(2);
    expect(alphaBudget(noControl, 1).byGuard).toEqual({ retention: 0.049 / 2, latencyP95: 0.049 / 2 });
  });

  it('never spends more than the rule α, even for a tiny α', () => {
    const rule = Rule.parse({ ...base, alpha: 0.001 });
    const b = alphaBudget(rule, 3);
    const perCohort = Object.values(b.byGuard).reduce((s, x) => s + x, 0);
    expect(b.alphaSrm + perCohort * b.guardedCohorts).toBeLessThanOrEqual(0.001 + 1e-18);
  });
});
