import { describe, expect, it } from 'vitest';
import type { FlagCommand, RolloutTarget } from '../../../src/events/flag-command.js';
import { allocationFields, decideRollout } from '../../../src/flags/rollout-apply.js';

const target = (percent: number, stage: number, status: RolloutTarget['status'] = 'ramping'): RolloutTarget => ({ stage, stages: 4, percent, status, salt: 's', control: 'control' });
const cmd = (action: FlagCommand['action'], state: 'on' | 'off', rollout: RolloutTarget, source: FlagCommand['source'] = 'verdict') => ({
  commandId: 'c', feature: 'f', cohort: 'treatment', action, state, source, reason: 'why', issuedAt: '2026-11-01T00:00:00Z', rollout,
});

describe('rollout command on a stored cohort', () => {
  it('moves state, allocation and ramp together', () => {
    const row = { state: 'on' as const, allocation: 1, rollout: { stage: 1, stages: 4, status: 'ramping' as const, salt: 's', control: 'control' } };
    expect(decideRollout(row, cmd('advance', 'on', target(10, 2)))).toEqual({ outcome: 'applied', state: 'on', allocation: 10, rollout: { stage: 2, stages: 4, status: 'ramping', salt: 's', control: 'control' } });
    expect(decideRollout(row, cmd('rollback', 'off', target(0, 0, 'rolled-back')))).toMatchObject({ outcome: 'applied', state: 'off', allocation: 0 });
    expect(decideRollout(row, cmd('hold', 'on', target(1, 1, 'holding')))).toMatchObject({ outcome: 'applied', allocation: 1, rollout: { status: 'holding' } });
    expect(decideRollout(row, cmd('pause', 'on', target(1, 1)))).toEqual({ outcome: 'no_change' });
    expect(decideRollout(null, cmd('advance', 'on', target(10, 2)))).toMatchObject({ outcome: 'applied' });
  });

  it('never lets an automatic advance lower what a cohort serves; a person may', () => {
    const everyone = { state: 'on' as const, allocation: null, rollout: null };
    const auto = decideRollout(everyone, cmd('advance', 'on', target(10, 2)));
    expect(auto).toMatchObject({ outcome: 'no_change' });
    expect(auto.outcome === 'no_change' && auto.reason).toMatch(/already serves 100 %/);
    expect(decideRollout(everyone, cmd('abort', 'off', target(0, 0, 'aborted'), 'manual'))).toMatchObject({ outcome: 'applied', allocation: 0 });
    expect(decideRollout(everyone, cmd('start', 'on', target(1, 1), 'manual'))).toMatchObject({ outcome: 'applied', allocation: 1 });
  });

  it('names the Redis fields of a cohort in a rollout', () => {
    expect(allocationFields('treatment', { percent: 0, salt: '', control: 'control' })).toEqual([
      ['allocation:treatment', '0'], ['salt:treatment', ''], ['control:treatment', 'control'],
    ]);
  });
});
