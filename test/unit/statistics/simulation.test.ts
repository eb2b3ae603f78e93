// The statistical contract, checked by simulation (docs/statistics.md): under evaluation at every
// step the family false-rollback rate stays ≤ α in every null, plain and realistic, where a naive
// threshold check shows ≥ 20 %; the injected regressions are caught, the late one within hours.
// Fixed seeds: the figures are reproducible, and the bounds are the binomial ones (α + 3 SE), not
// recorded outputs. `npm run sim` runs the same suite with many more runs.
import { describe, expect, it } from 'vitest';
import { falseRateBound } from '../../../sim/simulate.js';
import { runSuite, type SuiteResult } from '../../../sim/suite.js';

describe('always-valid guard simulation', () => {
  let result: SuiteResult;

  it('runs the suite with fixed seeds', () => {
    result = runSuite({ seed: 7, nullRuns: 80, effectRuns: 30, effects: ['latencyPlus450ms', 'activationMinus5pt'] });
    // Seven nulls in order (the delay-only treatment included), and the six delivered on time also
    // shuffled and cohort-sorted.
    expect(result.nulls).toHaveLength(19);
    expect(new Set(result.nulls.map((n) => n.arrival))).toEqual(new Set(['in order', 'shuffled', 'cohort-sorted']));
  }, 300_000);

  it('keeps the family false-rollback rate within α + 3 SE in every null', () => {
    for (const n of result.nulls) expect(n.family, n.name).toBeLessThanOrEqual(falseRateBound(result.alpha, n.runs));
  });

  it('keeps every detector within α + 3 SE in every arrival order, SRM or not', () => {
    // SRM suppresses the comparisons of a lagging arm, so the counted rate alone could hide a detector that fails.
    for (const n of result.nulls) expect(n.anyAlarms, `${n.name}, ${n.arrival}`).toBeLessThanOrEqual(falseRateBound(result.alpha, n.runs));
  });

  it('keeps every single guard within α_g + 3 SE on the plain null', () => {
    for (const [id, g] of Object.entries(result.perGuard)) {
      expect(g.rate, id).toBeLessThanOrEqual(falseRateBound(g.alpha, result.nullRuns));
    }
    expect(Object.keys(result.perGuard)).toHaveLength(6);
  });

  it('shows ≥ 20 % false rollbacks for the naive point-estimate rule in the same harness', () => {
    expect(result.naiveFamily).toBeGreaterThanOrEqual(0.2);
  });

  it('raises no false SRM alarm beyond α_srm + 3 SE', () => {
    expect(result.srmFalseAlarm.rate).toBeLessThanOrEqual(falseRateBound(result.srmFalseAlarm.alpha, result.nullRuns));
  });

  it('catches +450 ms at P95 from the first exposure as soon as the gate opens, and from hour 48 within hours', () => {
    const exposure = result.curves.latencyPlus450ms.exposure;
    expect(exposure.power).toBeGreaterThanOrEqual(0.95);
    expect(exposure.medianHours!).toBeLessThanOrEqual(6);
    const late = result.curves.latencyPlus450ms.h48;
    expect(late.power).toBeGreaterThanOrEqual(0.95);
    expect(late.medianHours!).toBeLessThanOrEqual(4);
    expect(late.beforeOnset).toBe(0);
  });

  it('detects a −5 pt activation drop in ≥ 95 % of runs, median within 48 h (24 h of it is maturity)', () => {
    const d = result.curves.activationMinus5pt.exposure;
    expect(d.power).toBeGreaterThanOrEqual(0.95);
    expect(d.medianHours!).toBeLessThanOrEqual(48);
  });

  it('does not roll back a treatment that only delays activation beyond α_g + 3 SE (the product-limit test holds there)', () => {
    const delayed = result.nulls.filter((n) => n.name.startsWith('treatment only activates later'));
    expect(delayed).toHaveLength(3);
    const alphaG = result.alphaByGuard['activation-vs-control'];
    for (const n of delayed) expect(n.productLimitFails, n.arrival).toBeLessThanOrEqual(falseRateBound(alphaG, n.runs));
  });

  it('catches the SRM of 5 % lost treatment exposures and stops judging the comparisons', () => {
    const d = result.srmExposuresMinus5pct;
    expect(d.power).toBeGreaterThanOrEqual(0.95);
    expect(d.invalid).toBeGreaterThanOrEqual(0.95);
  });
});
