// The verdict engine driving a rollout: the evaluator is scripted (outcome by event time), so the
// test is about the ramp, its commands and the SRM expectation, not the statistics.
import { describe, expect, it } from 'vitest';
import type { CohortPartial } from '../../../src/events/cohort-stats.js';
import type { FeaturePartial } from '../../../src/events/feature-partial.js';
import type { RolloutSteer } from '../../../src/events/rollout-steer.js';
import type { MetricVerdict, Outcome } from '../../../src/events/verdict.js';
import type { CohortEvaluator, EvaluationInput } from '../../../src/verdict/cohort-evaluator.js';
import { VerdictEngine } from '../../../src/verdict/verdict-engine.js';
import { cohortPartial, guardedRules, HOUR, T0 } from './engine-fixture.js';

function rules(extra: Record<string, unknown> = {}) {
  return guardedRules({
    minCohortSize: 10, evaluationWindowSeconds: 60,
    rollout: { stages: [{ percent: 1, minDurationSeconds: 3600, minUsers: 20 }, { percent: 10, minDurationSeconds: 3600 }, { percent: 50 }, { percent: 100 }] },
    ...extra,
  });
}

function cohort(name: string, exposed: number, offset: number, at: number): CohortPartial {
  return cohortPartial({ cohort: name, exposed, latencyMs: 100, requests: exposed, offset: String(offset), watermark: at });
}

let offset = 0;
function partial(at: number, control: number, treatment: number): FeaturePartial {
  offset += 1;
  return { feature: 'f', partition: 0, offset: String(offset), watermark: at, cohorts: [cohort('control', control, offset, at), cohort('treatment', treatment, offset, at)] };
}

const metric = (status: MetricVerdict['status']): MetricVerdict => ({ n: 1, estimate: 1, lower: 1, upper: 1, threshold: 1, status });

/** Outcome of the treatment cohort from the event time; records the shares the engine asked the SRM to expect. */
function scripted(outcomeAt: (at: number) => Outcome, seen: Record<string, number>[] = []): CohortEvaluator {
  return {
    name: 'scripted',
    evaluate(i: EvaluationInput) {
      if (i.cohort.cohort === 'treatment' && i.expectedShares) seen.push(i.expectedShares);
      const outcome = i.cohort.cohort === 'treatment' ? outcomeAt(i.at) : 'pass';
      const status = outcome === 'invalid' ? 'pending' : outcome;
      return { outcome, metrics: { activation: metric('pending'), retention: metric(status), latencyP95: metric(status) }, srm: { status: 'ok', pValue: 1, counts: i.exposures }, reason: `${outcome}: scripted`, memory: i.memory };
    },
  };
}

const steer = (action: RolloutSteer['action'], id: string): RolloutSteer => ({
  kind: 'rollout-steer', steerId: id, feature: 'f', cohort: 'treatment', action, actor: 'ana', reason: 'checking', requestedAt: new Date(T0).toISOString(),
});

describe('verdict engine with a rollout', () => {
  it('ramps a healthy cohort 1 → 10 → 50 → 100 in event time, one command per stage, allocation and state together', () => {
    const e = new VerdictEngine({ rules: rules(), evaluator: scripted(() => 'pass'), heartbeatMs: HOUR });
    const commands = [
      e.apply(partial(T0 + HOUR / 2, 100, 30)), // pass, but stage 1 has not lasted an hour
      e.apply(partial(T0 + HOUR, 200, 40)), // 1 h, 40 users: advance to 10 %
      e.apply(partial(T0 + 1.5 * HOUR, 300, 60)), // stage 2 is half an hour old
      e.apply(partial(T0 + 2 * HOUR, 400, 80)), // advance to 50 %
      e.apply(partial(T0 + 2 * HOUR + 1, 400, 90)), // advance to 100 %
      e.apply(partial(T0 + 2 * HOUR + 2, 400, 100)), // complete
      e.apply(partial(T0 + 3 * HOUR, 400, 110)),
    ].flatMap((o) => o.commands);
    expect(commands.map((c) => [c.action, c.state, c.rollout?.stage, c.rollout?.percent, c.rollout?.status, c.issuedAt])).toEqual([
      ['advance', 'on', 2, 10, 'ramping', new Date(T0 + HOUR).toISOString()],
      ['advance', 'on', 3, 50, 'ramping', new Date(T0 + 2 * HOUR).toISOString()],
      ['advance', 'on', 4, 100, 'ramping', new Date(T0 + 2 * HOUR + 1).toISOString()],
      ['complete', 'on', 4, 100, 'complete', new Date(T0 + 2 * HOUR + 2).toISOString()],
    ]);
    expect(commands.every((c) => c.source === 'verdict' && c.evidence?.rollout !== undefined && c.rollout?.control === 'control')).toBe(true);
    expect(new Set(commands.map((c) => c.commandId)).size).toBe(4);
  });

  it('rolls back a cohort that fails at stage 2 at once: allocation 0 and off in one command, and the control is untouched', () => {
    const e = new VerdictEngine({ rules: rules(), evaluator: scripted((at) => (at >= T0 + 1.5 * HOUR ? 'fail' : 'pass')), heartbeatMs: HOUR });
    e.apply(partial(T0 + HOUR, 200, 40));
    const out = e.apply(partial(T0 + 1.5 * HOUR, 300, 60));
    expect(out.commands).toHaveLength(1);
    expect(out.commands[0]).toMatchObject({ action: 'rollback', cohort: 'treatment', state: 'off', rollout: { stage: 0, percent: 0, status: 'rolled-back' } });
    expect(out.commands[0].reason).toMatch(/^rolled back at stage 2\/4 \(10 %\): fail: scripted/);
    expect(out.verdicts.find((v) => v.cohort === 'treatment')!.rollout).toMatchObject({ status: 'rolled-back', percent: 0 });
    expect(out.commands.some((c) => c.cohort === 'control')).toBe(false);
    expect(e.latest('f', 'control')[0].rollout).toBeUndefined();
    expect(e.apply(partial(T0 + 9 * HOUR, 300, 60)).commands).toEqual([]);
  });

  it('holds on inconclusive, and shows the hold in the verdict', () => {
    const e = new VerdictEngine({ rules: rules(), evaluator: scripted(() => 'inconclusive'), heartbeatMs: HOUR });
    const out = e.apply(partial(T0 + HOUR, 200, 40));
    expect(out.commands.map((c) => [c.action, c.rollout?.status, c.rollout?.percent])).toEqual([['hold', 'holding', 1]]);
    expect(out.verdicts.find((v) => v.cohort === 'treatment')!.rollout).toMatchObject({ status: 'holding', stage: 1 });
    expect(e.rollouts('f')[0]).toMatchObject({ cohort: 'treatment', outcome: 'inconclusive', rollout: { status: 'holding' } });
  });

  it('applies a person’s steering in log order, once, and sends refusals to the audit as commands that change nothing', () => {
    const e = new VerdictEngine({ rules: rules(), evaluator: scripted(() => 'pass'), heartbeatMs: HOUR });
    e.apply(partial(T0 + HOUR / 2, 100, 10));
    const paused = e.steer(steer('pause', 's1'));
    expect(paused.commands[0]).toMatchObject({ action: 'pause', source: 'manual', actor: 'ana', state: 'on', rollout: { stage: 1, percent: 1, status: 'paused' } });
    expect(e.steer(steer('pause', 's1')).commands).toEqual([]); // re-delivered
    expect(e.apply(partial(T0 + 5 * HOUR, 500, 100)).commands).toEqual([]); // paused: no advance
    const again = e.steer(steer('pause', 's2'));
    expect(again.commands[0]).toMatchObject({ action: 'pause', rollout: { status: 'paused' } });
    expect(again.commands[0].reason).toBe('pause refused: the rollout is paused (requested by ana: checking)');
    expect(e.steer(steer('resume', 's3')).commands[0]).toMatchObject({ action: 'resume', rollout: { status: 'ramping' } });
    expect(e.apply(partial(T0 + 6 * HOUR, 600, 120)).commands[0]).toMatchObject({ action: 'advance', rollout: { stage: 2, percent: 10 } });
    expect(e.steer(steer('advance', 's4')).commands[0]).toMatchObject({ action: 'advance', rollout: { stage: 3, percent: 50 } });
    const aborted = e.steer(steer('abort', 's5')).commands[0];
    expect(aborted).toMatchObject({ action: 'abort', state: 'off', rollout: { stage: 0, percent: 0, status: 'aborted' } });
    const restarted = e.steer(steer('start', 's6')).commands[0];
    expect(restarted).toMatchObject({ action: 'start', state: 'on', rollout: { stage: 1, percent: 1, status: 'ramping' } });
    expect(e.rollouts('f')[0].lastSteer).toMatchObject({ steerId: 's6', result: 'applied' });
  });

  it('asks the SRM check to expect the shares of the allocations in force when users arrived', () => {
    const seen: Record<string, number>[] = [];
    const e = new VerdictEngine({ rules: rules(), evaluator: scripted(() => 'pass', seen), heartbeatMs: HOUR });
    e.apply(partial(T0 + HOUR, 1980, 20)); // 2000 users at 1 %: expect 99.5 / 0.5; then advance to 10 %
    e.apply(partial(T0 + 1.5 * HOUR, 2000 + 1900, 20 + 100)); // 2000 more at 10 %: 5 % of them treatment
    expect(seen[0].treatment / (seen[0].treatment + seen[0].control)).toBeCloseTo(0.005);
    expect(seen[1].treatment / (seen[1].treatment + seen[1].control)).toBeCloseTo((2000 * 0.005 + 2000 * 0.05) / 4000);
  });

  it('is deterministic and survives serialize/restore mid-ramp', () => {
    const inputs = () => [partial(T0 + HOUR, 200, 40), partial(T0 + 2 * HOUR, 400, 80), partial(T0 + 3 * HOUR, 500, 90)];
    const make = () => new VerdictEngine({ rules: rules(), evaluator: scripted(() => 'pass'), heartbeatMs: HOUR });
    offset = 100;
    const [a1, a2, a3] = inputs();
    const a = make();
    const first = a.apply(a1);
    const b = VerdictEngine.restore(a.serialize(), { rules: rules(), evaluator: scripted(() => 'pass'), heartbeatMs: HOUR });
    expect(JSON.stringify([b.apply(a2), b.apply(a3)])).toBe(JSON.stringify([a.apply(a2), a.apply(a3)]));
    expect(first.commands[0].rollout?.stage).toBe(2);
  });

  it('does not drive the ramp in dry-run', () => {
    const e = new VerdictEngine({ rules: rules({ mode: 'dry-run' }), evaluator: scripted(() => 'pass'), heartbeatMs: HOUR });
    const out = e.apply(partial(T0 + 2 * HOUR, 200, 40));
    expect(out.commands).toEqual([]);
    expect(out.verdicts.every((v) => v.rollout === undefined)).toBe(true);
  });
});

describe('the SRM check under a rollout, with the sequential evaluator', () => {
  it('expects the shares of the allocation in force, so a ramp is not a mismatch, while a real mismatch still is', async () => {
    const { SequentialEvaluator } = await import('../../../src/verdict/sequential-evaluator.js');
    const shared = rules({ cohorts: { control: 'control', guarded: ['treatment'], expectedShares: { control: 1, treatment: 9 } } });
    const run = (treatmentShareOfNew: number) => {
      const e = new VerdictEngine({ rules: shared, evaluator: new SequentialEvaluator(), heartbeatMs: HOUR });
      let control = 0;
      let treatment = 0;
      const statuses: string[] = [];
      for (let step = 1; step <= 8; step++) {
        // 1000 new users per step; at stage 1 (1 %) 0.9 % of them are served the treatment.
        treatment += Math.round(1000 * treatmentShareOfNew);
        control = step * 1000 - treatment;
        const out = e.apply(partial(T0 + (step * HOUR) / 4, control, treatment));
        const v = out.verdicts.find((x) => x.cohort === 'treatment') ?? e.latest('f', 'treatment')[0];
        statuses.push(v.srm.status);
      }
      return statuses;
    };
    expect(run(0.009).every((s) => s === 'ok')).toBe(true);
    expect(run(0.3)).toContain('mismatch');
  });
});
