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
  it('splits α − α_srm equally over metrics × comparisons × guarded cohorts', () => {
    const rule = Rule.parse({
      ...base,
      activation: { action: { spanName: 'click' } },
      cohorts: { control: 'control', guarded: ['a', 'b'] },
      guardrails: { maxActivationDrop: 0.02, maxRetentionDrop: 0.02, maxP95Increase: 0.1 },
    });
    expect(guardsOf(rule)).toHaveLength(6);
    const b = alphaBudget(rule, 2);
    expect(b.alphaSrm).toBe(0.001);
    expect(b.perGuard).toBeCloseTo(0.049 / 12, 15);
    expect(b.perGuard * 12 + b.alphaSrm).toBeCloseTo(rule.alpha, 15);
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
    expect(alphaBudget(noControl, 1).perGuard).toBeCloseTo(0.049 / 2, 15);
  });

  it('never spends more than the rule α, even for a tiny α', () => {
    const rule = Rule.parse({ ...base, alpha: 0.001 });
    const b = alphaBudget(rule, 3);
    expect(b.alphaSrm + b.perGuard * b.guardsPerCohort * b.guardedCohorts).toBeLessThanOrEqual(0.001 + 1e-18);
  });
});
