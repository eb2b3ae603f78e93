// Rollout commands in the flag store, run once per driver (PostgreSQL and PGlite): state,
// allocation and ramp move in one transaction at one version, with the audit and outbox rows that
// carry them to Redis; pins freeze a rollout and release held steps when they end.

import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import type { FlagCommand, RolloutTarget } from '../../../src/events/flag-command.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { uniqueName } from '../../helpers/services.js';
import { openMigratedStore, rollback, sampleVerdict, type MigratedStore, type StoreDriver } from './flag-store-fixture.js';

const target = (stage: number, percent: number, status: RolloutTarget['status'] = 'ramping'): RolloutTarget => ({ stage, stages: 4, percent, status, salt: 's1', control: 'control' });

function step(action: FlagCommand['action'], state: 'on' | 'off', rollout: RolloutTarget, extra: Partial<FlagCommand> = {}): FlagCommand {
  const evidence = { ...sampleVerdict('feat', 'treatment'), outcome: 'pass' as const, reason: 'pass: fine' };
  return { commandId: uniqueName('cmd'), feature: 'feat', cohort: 'treatment', action, state, source: 'verdict', reason: `${action}: ${evidence.reason}`, evidence, issuedAt: '2026-01-02T03:04:06.000Z', rollout, ...extra };
}

export function describeRolloutStore(driver: StoreDriver): void {
  describe(`rollouts in the flag store on ${driver.name}`, () => {
    let store: MigratedStore;
    let repo: FlagRepository;
    const clock = new ManualClock(Date.parse('2026-01-02T03:00:00Z'));

    beforeEach(async () => {
      store = await openMigratedStore(driver);
      repo = new FlagRepository(store.sql, store.schema, { clock });
      await repo.ensureGuarded('feat', ['treatment'], 'registered at stage 1', { percent: 1, stages: 4, salt: 's1', control: 'control' });
    });
    afterEach(async () => {
      await store.close();
    });
    afterAll(async () => {
      await driver.dispose?.();
    });

    it('registers a guarded cohort at its first stage, and says so in the audit and the snapshot', async () => {
      const flag = await repo.getFlag('feat');
      expect(flag?.cohorts.treatment).toMatchObject({ state: 'on', allocation: 1, rollout: { stage: 1, stages: 4, status: 'ramping', salt: 's1', control: 'control' } });
      expect(await repo.featureSnapshot('feat')).toEqual({ feature: 'feat', version: 1, cohorts: { treatment: 'on' }, allocations: { treatment: { percent: 1, salt: 's1', control: 'control' } } });
      const [entry] = await repo.auditLog('feat');
      expect(entry).toMatchObject({ action: 'register', fromAllocation: null, toAllocation: 1, toState: 'on' });
    });

    it('advances and rolls back with state and allocation in one version each, evidence in the audit, snapshots in the outbox', async () => {
      expect(await repo.applyCommand(step('advance', 'on', target(2, 10)))).toEqual({ status: 'applied', version: 2 });
      const back = step('rollback', 'off', target(0, 0, 'rolled-back'));
      expect(await repo.applyCommand(back)).toEqual({ status: 'applied', version: 3 });
      expect(await repo.applyCommand(back)).toEqual({ status: 'duplicate', version: 3 });

      const outbox = await repo.pendingOutbox();
      expect(outbox.map((o) => [o.version, o.payload.cohorts.treatment, o.payload.allocations?.treatment?.percent])).toEqual([
        [1, 'on', 1],
        [2, 'on', 10],
        [3, 'off', 0],
      ]);
      const audit = await repo.auditLog('feat');
      expect(audit.map((e) => [e.action, e.fromState, e.toState, e.fromAllocation, e.toAllocation, e.version, e.outcome])).toEqual([
        ['rollback', 'on', 'off', 10, 0, 3, 'applied'],
        ['advance', 'on', 'on', 1, 10, 2, 'applied'],
        ['register', null, 'on', null, 1, 1, 'applied'],
      ]);
      expect((audit[1].evidence as { outcome: string }).outcome).toBe('pass');
      expect((await repo.getFlag('feat'))?.cohorts.treatment).toMatchObject({ state: 'off', allocation: 0, rollout: { status: 'rolled-back', stage: 0 } });
    });

    it('records a step that changes nothing as no_change, without a new version', async () => {
      const refused = step('resume', 'on', target(1, 1), { source: 'manual', actor: 'ana', reason: 'resume refused: the rollout is ramping (requested by ana: go)' });
      expect(await repo.applyCommand(refused)).toEqual({ status: 'no_change', version: 1 });
      const [entry] = await repo.auditLog('feat');
      expect(entry).toMatchObject({ action: 'resume', actor: 'ana', outcome: 'no_change', fromAllocation: 1, toAllocation: 1, reason: refused.reason });
    });

    it('never lets an automatic advance cut back a cohort that served everyone before its rollout', async () => {
      await repo.ensureGuarded('feat', ['beta']);
      const result = await repo.applyCommand(step('advance', 'on', target(2, 10), { cohort: 'beta' }));
      expect(result.status).toBe('no_change');
      expect((await repo.auditLog('feat', { cohort: 'beta' }))[0].reason).toMatch(/already serves 100 %/);
      expect((await repo.getFlag('feat'))?.cohorts.beta.allocation).toBeUndefined();
    });

    it('holds an automatic step while the cohort is pinned, and applies it when the pin ends', async () => {
      await repo.pin({ commandId: uniqueName('pin'), feature: 'feat', cohort: 'treatment', state: 'on', until: '2026-01-02T04:00:00Z', actor: 'ana', reason: 'demo' });
      const advance = step('advance', 'on', target(2, 10));
      expect((await repo.applyCommand(advance)).status).toBe('skipped_pinned');
      expect((await repo.getFlag('feat'))?.cohorts.treatment).toMatchObject({ allocation: 1, held: { commandId: advance.commandId } });
      const ended = await repo.unpin({ commandId: uniqueName('unpin'), feature: 'feat', cohort: 'treatment', actor: 'ana', reason: 'demo over' });
      expect(ended.released).toBe(advance.commandId);
      expect((await repo.getFlag('feat'))?.cohorts.treatment).toMatchObject({ state: 'on', allocation: 10, rollout: { stage: 2 } });
      const [entry] = await repo.auditLog('feat');
      expect(entry).toMatchObject({ action: 'advance', fromAllocation: 1, toAllocation: 10, outcome: 'applied' });
      expect(entry.reason).toMatch(/^released when the pin ended/);
    });

    it('keeps a plain rollback of a cohort in a rollout working (the allocation stays)', async () => {
      expect((await repo.applyCommand(rollback('feat', 'treatment'))).status).toBe('applied');
      expect((await repo.getFlag('feat'))?.cohorts.treatment).toMatchObject({ state: 'off', allocation: 1 });
    });
  });
}
