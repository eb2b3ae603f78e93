import { describe, expect, it } from 'vitest';
import { Rollout } from '../../../src/rules/rollout-schema.js';
import { accumulateExpected, impliedShares, onEvidence, onSteer, startRamp, type RampState } from '../../../src/verdict/rollout-ramp.js';

const plan = Rollout.parse({
  stages: [
    { percent: 1, minDurationSeconds: 3600, minUsers: 50 },
    { percent: 10, minDurationSeconds: 3600 },
    { percent: 50 },
    { percent: 100 },
  ],
});
const H = 3_600_000;
const pass = (at: number, exposed: number) => ({ outcome: 'pass' as const, at, exposed, reason: 'pass: fine', gatesOpen: true });

describe('rollout ramp', () => {
  it('advances only when the guards pass and the stage has lasted and gathered its users, in event time', () => {
    let s = startRamp(plan, 0, 0);
    expect(onEvidence(plan, s, pass(H - 1, 100)).change).toBeUndefined(); // too early
    expect(onEvidence(plan, s, pass(H, 49)).change).toBeUndefined(); // too few users
    expect(onEvidence(plan, s, { ...pass(H, 100), outcome: 'pending' }).change).toBeUndefined(); // not decided
    const step = onEvidence(plan, s, pass(H, 100));
    expect(step.change).toMatchObject({ action: 'advance', stage: 2, percent: 10, state: 'on', status: 'ramping' });
    s = step.state;
    expect(s).toMatchObject({ stage: 1, stageStartedAt: H, usersAtStageStart: 100 });
    expect(onEvidence(plan, s, pass(2 * H - 1, 500)).change).toBeUndefined();
    s = onEvidence(plan, s, pass(2 * H, 500)).state;
    s = onEvidence(plan, s, pass(2 * H, 500)).state; // stage 3 has no minimums
    expect(s).toMatchObject({ stage: 3, status: 'ramping' });
    const done = onEvidence(plan, s, pass(2 * H, 500));
    expect(done.change).toMatchObject({ action: 'complete', stage: 4, percent: 100, status: 'complete' });
    expect(onEvidence(plan, done.state, { ...pass(3 * H, 600), outcome: 'fail' }).change).toBeUndefined();
  });

  it('with advanceWhen: no-regression, advances on an undecided verdict once the gates are open and nothing failed', () => {
    const lenient = { ...plan, advanceWhen: 'no-regression' as const };
    const s = startRamp(lenient, 0, 0);
    const pending = { ...pass(H, 100), outcome: 'pending' as const };
    expect(onEvidence(lenient, s, { ...pending, gatesOpen: false }).change).toBeUndefined();
    expect(onEvidence(lenient, s, pending).change).toMatchObject({ action: 'advance', stage: 2 });
    expect(onEvidence(plan, s, pending).change).toBeUndefined();
    expect(onEvidence(lenient, s, { ...pending, outcome: 'invalid' }).change).toBeUndefined();
  });

  it('rolls back at once on a failure at any live status, to allocation 0 and off', () => {
    const s = onEvidence(plan, startRamp(plan, 0, 0), pass(H, 100)).state;
    for (const status of ['ramping', 'holding', 'paused'] as const) {
      const step = onEvidence(plan, { ...s, status }, { outcome: 'fail', at: H + 1, exposed: 101, reason: 'fail: latency', gatesOpen: true });
      expect(step.change).toMatchObject({ action: 'rollback', stage: 0, percent: 0, state: 'off', status: 'rolled-back' });
      expect(step.change!.reason).toContain('stage 2/4 (10 %)');
    }
  });

  it('holds on inconclusive (or rolls back when told to), and on pass with onPass: hold', () => {
    const s = startRamp(plan, 0, 0);
    const held = onEvidence(plan, s, { outcome: 'inconclusive', at: H, exposed: 9, reason: 'inconclusive: undecided', gatesOpen: true });
    expect(held.change).toMatchObject({ action: 'hold', stage: 1, percent: 1, status: 'holding' });
    expect(onEvidence(plan, held.state, pass(2 * H, 1000)).change).toBeUndefined(); // a hold waits for a person
    const strict = { ...plan, onInconclusive: 'rollback' as const };
    expect(onEvidence(strict, s, { outcome: 'inconclusive', at: H, exposed: 9, reason: 'x', gatesOpen: true }).change?.action).toBe('rollback');
    const manual = { ...plan, onPass: 'hold' as const };
    expect(onEvidence(manual, s, pass(H, 100)).change).toMatchObject({ action: 'hold', stage: 1, status: 'holding' });
  });

  it('lets a person pause, resume, advance, abort and start, and refuses what makes no sense', () => {
    const req = (action: 'start' | 'pause' | 'resume' | 'advance' | 'abort') => ({ action, at: 5, exposed: 7, actor: 'ana', reason: 'watching' });
    let s: RampState = startRamp(plan, 0, 0);
    expect(onSteer(plan, s, req('resume')).refused).toMatch(/resume refused: the rollout is ramping/);
    let step = onSteer(plan, s, req('pause'));
    expect(step.change).toMatchObject({ action: 'pause', status: 'paused', percent: 1 });
    s = step.state;
    expect(onEvidence(plan, s, pass(10 * H, 1000)).change).toBeUndefined(); // paused: no advance
    step = onSteer(plan, s, req('advance'));
    expect(step.change).toMatchObject({ action: 'advance', stage: 2, percent: 10, status: 'paused' });
    s = onSteer(plan, step.state, req('resume')).state;
    expect(s.status).toBe('ramping');
    step = onSteer(plan, s, req('abort'));
    expect(step.change).toMatchObject({ action: 'abort', stage: 0, percent: 0, state: 'off', status: 'aborted' });
    expect(step.change!.reason).toBe('aborted at stage 2/4 (10 %) by ana: watching');
    expect(onSteer(plan, step.state, req('pause')).refused).toBeDefined();
    step = onSteer(plan, step.state, req('start'));
    expect(step.change).toMatchObject({ action: 'start', stage: 1, percent: 1, state: 'on', status: 'ramping' });
    expect(step.state).toMatchObject({ stageStartedAt: 5, usersAtStageStart: 7 });
  });
});

describe('expected shares under a rollout', () => {
  it('moves the part of a cohort outside its allocation to the control', () => {
    expect(impliedShares({ control: 1, treatment: 1 }, 'control', { treatment: 10 })).toEqual({ control: 0.95, treatment: 0.05 });
    expect(impliedShares({ control: 1, treatment: 1 }, 'control', { treatment: 100 })).toEqual({ control: 0.5, treatment: 0.5 });
  });

  it('weights each moment’s shares by the users first exposed then', () => {
    let e = accumulateExpected({}, 1000, impliedShares({ control: 1, treatment: 1 }, 'control', { treatment: 10 }));
    e = accumulateExpected(e, 1000, impliedShares({ control: 1, treatment: 1 }, 'control', { treatment: 100 }));
    expect(e.control).toBeCloseTo(1450);
    expect(e.treatment).toBeCloseTo(550);
  });
});
