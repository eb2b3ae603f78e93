// The statistical contract, checked by simulation:
// under continuous evaluation the false-rollback rate stays ≤ α where a naive threshold check
// shows ≥ 20 %, and the injected regressions are caught. Fixed seeds: the figures are
// reproducible, and the bounds are the binomial ones (α + 3 SE), not recorded outputs.
import { describe, expect, it } from 'vitest';
import { runSuite, type SuiteResult } from '../../../sim/suite.js';

describe('always-valid guard simulation', () => {
  let result: SuiteResult;

  it('runs the suite with fixed seeds', () => {
    result = runSuite({ seed: 7, nullRuns: 500, effectRuns: 100 });
    expect(result.nullRuns).toBe(500);
  }, 60_000);

  it('keeps the family false-rollback rate within α + 3 SE with every guard on its null boundary', () => {
    const f = result.falseRollback.family;
    expect(f.rate).toBeLessThanOrEqual(f.bound);
  });

  it('keeps every single guard within α_g + 3 SE', () => {
    for (const [id, g] of Object.entries(result.falseRollback.perGuard)) {
      expect(g.rate, id).toBeLessThanOrEqual(g.bound);
    }
    expect(Object.keys(result.falseRollback.perGuard)).toHaveLength(6);
  });

  it('shows ≥ 20 % false rollbacks for the naive point-estimate rule in the same harness', () => {
    expect(result.falseRollback.naiveFamily).toBeGreaterThanOrEqual(0.2);
  });

  it('raises no false SRM alarm beyond α_srm + 3 SE', () => {
    expect(result.falseRollback.srmFalseAlarm.rate).toBeLessThanOrEqual(result.falseRollback.srmFalseAlarm.bound);
  });

  it('detects a −5 pt activation drop in ≥ 95 % of runs, median within 48 h (24 h of it is maturity)', () => {
    const d = result.detection.activationMinus5pt;
    expect(d.power).toBeGreaterThanOrEqual(0.95);
    expect(d.medianHours!).toBeLessThanOrEqual(48);
  });

  it('detects a −3 pt retention drop in ≥ 95 % of runs, median within 240 h (168 h of it is maturity)', () => {
    const d = result.detection.retentionMinus3pt;
    expect(d.power).toBeGreaterThanOrEqual(0.95);
    expect(d.medianHours!).toBeLessThanOrEqual(240);
  });

  it('detects +450 ms at P95 through both latency guards, median within 12 h', () => {
    for (const d of [
      result.detection.latencyPlus450ms,
      result.detection.latencyPlus450msThresholdGuard,
      result.detection.latencyPlus450msVsControlGuard,
    ]) {
      expect(d.power).toBeGreaterThanOrEqual(0.95);
      expect(d.medianHours!).toBeLessThanOrEqual(12);
    }
    expect(result.detection.latencyPlus450msFromHour48.power).toBeGreaterThanOrEqual(0.95);
  });

  it('catches the SRM of 5 % lost treatment exposures and suppresses the metric verdicts', () => {
    const d = result.detection.srmTreatmentExposuresMinus5pct;
    expect(d.power).toBeGreaterThanOrEqual(0.95);
    expect(d.suppressed).toBeGreaterThanOrEqual(0.95);
  });
});
