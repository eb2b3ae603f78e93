// kill -9 of the flag writer in the middle of a rollout's advance: after PostgreSQL committed the
// new stage and before Redis heard of it. Readers keep seeing the previous stage whole (state and
// allocation of one version), the restarted writer completes the stage in Redis, and the advance
// delivered again (the command topic replays after a crash) changes nothing.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FlagCommand } from '../../../src/events/flag-command.js';
import { sampleVerdict } from './flag-store-fixture.js';
import { openWriterCrashStack, type WriterCrashStack } from './flag-stack.js';

describe('flag writer killed with SIGKILL during a rollout advance', () => {
  let stack: WriterCrashStack;
  beforeEach(async () => {
    stack = await openWriterCrashStack();
  });
  afterEach(() => stack.close());

  it('leaves no partial state, and the stage completes after restart', async () => {
    const { repo, redis, cache, child } = stack;
    await repo.ensureGuarded('feat', ['treatment'], undefined, { percent: 1, stages: 4, salt: 's1', control: 'control' });
    expect(await child({ mode: 'reconcile' }).exitCode()).toBe(0);
    const stage1 = { version: '1', treatment: 'on', 'allocation:treatment': '1', 'salt:treatment': 's1', 'control:treatment': 'control' };
    expect(await redis.hgetall(cache.key('feat'))).toEqual(stage1);

    const evidence = { ...sampleVerdict('feat', 'treatment'), outcome: 'pass' as const };
    const advance: FlagCommand = {
      commandId: 'advance-feat-treatment-2', feature: 'feat', cohort: 'treatment', action: 'advance', state: 'on', source: 'verdict',
      reason: 'stage 2/4 (10 %): advanced after stage 1/4 (1 %) passed', evidence, issuedAt: evidence.evaluatedAt,
      rollout: { stage: 2, stages: 4, percent: 10, status: 'ramping', salt: 's1', control: 'control' },
    };
    const victim = child({ mode: 'stall', command: advance });
    await victim.waitForLine((l) => l === 'REDIS_WRITE feat 2', 'Redis write of v2 begun');
    await victim.kill9();

    // PostgreSQL has the whole stage 2; Redis still the whole stage 1: never one without the other.
    expect((await repo.getFlag('feat'))!.cohorts.treatment).toMatchObject({ state: 'on', allocation: 10, rollout: { stage: 2 } });
    expect((await repo.pendingOutbox(10)).map((o) => [o.version, o.payload.allocations?.treatment?.percent])).toEqual([[2, 10]]);
    expect(await redis.hgetall(cache.key('feat'))).toEqual(stage1);

    expect(await child({ mode: 'reconcile' }).exitCode()).toBe(0);
    expect(await redis.hgetall(cache.key('feat'))).toEqual({ ...stage1, version: '2', 'allocation:treatment': '10' });
    expect(await repo.pendingOutbox(10)).toEqual([]);

    // The command topic re-delivers what the dead writer had not committed an offset for.
    expect(await repo.applyCommand(advance)).toEqual({ status: 'duplicate', version: 2 });
    const audit = await repo.auditLog('feat');
    expect(audit.filter((e) => e.commandId === advance.commandId)).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'advance', fromAllocation: 1, toAllocation: 10, version: 2 });
  }, 60_000);
});
