// The flag repository's behaviour, run once per driver (PostgreSQL and PGlite) by the
// flag-repository.*.test.ts files, so both deployments are held to the same SQL.

import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { MIGRATIONS, migrate } from '../../../src/store/migrations.js';
import { countRows, openMigratedStore, restore, rollback, type MigratedStore, type StoreDriver } from './flag-store-fixture.js';

export function describeFlagRepository(driver: StoreDriver): void {
  describe(`FlagRepository on ${driver.name}`, () => {
    let store: MigratedStore;
    let repo: FlagRepository;
    const counts = async () => ({
      audit: await countRows(store.sql, store.schema, 'audit_log'),
      outbox: await countRows(store.sql, store.schema, 'outbox'),
      applied: await countRows(store.sql, store.schema, 'applied_commands'),
    });

    beforeEach(async () => {
      store = await openMigratedStore(driver);
      repo = new FlagRepository(store.sql, store.schema);
    });
    afterEach(async () => {
      await store.close();
    });
    afterAll(async () => {
      await driver.dispose?.();
    });

    it('runs the migrations idempotently', async () => {
      const again = await migrate(store.sql, store.schema);
      expect(again).toEqual({ applied: [], current: MIGRATIONS.length });
      expect(await countRows(store.sql, store.schema, 'schema_migrations')).toBe(MIGRATIONS.length);
    });

    it('rolls a failed migration back completely', async () => {
      const next = MIGRATIONS.length + 1;
      const broken = { version: next, name: 'broken', statements: ['CREATE TABLE extra (x int)', 'SELEC nonsense'] };
      await expect(migrate(store.sql, store.schema, [...MIGRATIONS, broken])).rejects.toThrow(new RegExp(`migration ${next} \\(broken\\) failed`));
      const { rows } = await store.sql.query<{ n: unknown }>(
        `SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'extra'`,
        [store.schema],
      );
      expect(Number(rows[0].n)).toBe(0);
      expect(await countRows(store.sql, store.schema, 'schema_migrations')).toBe(MIGRATIONS.length);
    });

    it('applies a rollback: flag row, audit with evidence, idempotency row and outbox snapshot', async () => {
      const cmd = rollback('feat_smart_recs_v1', 'treatment');
      await expect(repo.applyCommand(cmd)).resolves.toEqual({ status: 'applied', version: 1 });

      const flag = await repo.getFlag('feat_smart_recs_v1');
      expect(flag).toMatchObject({ feature: 'feat_smart_recs_v1', version: 1, cohorts: { treatment: { state: 'off', version: 1, reason: cmd.reason } } });
      expect(flag!.cohorts.treatment.pinnedUntil).toBeUndefined();
      expect(Number.isNaN(Date.parse(flag!.cohorts.treatment.updatedAt))).toBe(false);

      const audit = await repo.auditLog('feat_smart_recs_v1', 10);
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({
        commandId: cmd.commandId,
        cohort: 'treatment',
        fromState: null,
        toState: 'off',
        version: 1,
        source: 'verdict',
        outcome: 'applied',
        reason: cmd.reason,
      });
      expect(audit[0].evidence).toEqual(cmd.evidence);

      const outbox = await repo.pendingOutbox(10);
      expect(outbox).toHaveLength(1);
      expect(outbox[0]).toMatchObject({ feature: 'feat_smart_recs_v1', version: 1, payload: { feature: 'feat_smart_recs_v1', version: 1, cohorts: { treatment: 'off' } } });
      expect(await counts()).toEqual({ audit: 1, outbox: 1, applied: 1 });
    });

    it('treats a replayed command as a no-op', async () => {
      const cmd = rollback('f', 'treatment');
      const first = await repo.applyCommand(cmd);
      const before = { ...(await counts()), flag: await repo.getFlag('f') };

      await expect(repo.applyCommand(cmd)).resolves.toEqual({ status: 'duplicate', version: first.version });
      // Same id, different content: the id alone decides.
      await expect(repo.applyCommand({ ...cmd, state: 'on' })).resolves.toEqual({ status: 'duplicate', version: first.version });

      expect({ ...(await counts()), flag: await repo.getFlag('f') }).toEqual(before);
    });

    it('records a command that finds the flag already in its state as no_change without a new version', async () => {
      await repo.applyCommand(rollback('f', 'treatment'));
      const again = rollback('f', 'treatment');
      await expect(repo.applyCommand(again)).resolves.toEqual({ status: 'no_change', version: 1 });

      expect(await counts()).toEqual({ audit: 2, outbox: 1, applied: 2 });
      const [latest] = await repo.auditLog('f', 1);
      expect(latest).toMatchObject({ commandId: again.commandId, outcome: 'no_change', fromState: 'off', toState: 'off', version: 1 });
      await expect(repo.applyCommand(again)).resolves.toEqual({ status: 'duplicate', version: 1 });
    });

    it('restores a cohort and carries the whole feature in each outbox snapshot', async () => {
      await repo.applyCommand(rollback('f', 'a'));
      await repo.applyCommand(rollback('f', 'b'));
      const r = await repo.applyCommand(restore('f', 'a'));
      expect(r).toEqual({ status: 'applied', version: 3 });

      const outbox = await repo.pendingOutbox(10);
      expect(outbox.map((o) => o.payload)).toEqual([
        { feature: 'f', version: 1, cohorts: { a: 'off' } },
        { feature: 'f', version: 2, cohorts: { a: 'off', b: 'off' } },
        { feature: 'f', version: 3, cohorts: { a: 'on', b: 'off' } },
      ]);
      const flag = await repo.getFlag('f');
      expect(flag).toMatchObject({ version: 3, cohorts: { a: { state: 'on', version: 3 }, b: { state: 'off', version: 2 } } });
      const [latest] = await repo.auditLog('f', 1);
      expect(latest).toMatchObject({ fromState: 'off', toState: 'on', source: 'manual', actor: 'alice', evidence: null });
    });

    it('respects an active pin and says so in the audit log', async () => {
      await repo.ensureGuarded('f', ['treatment']);
      await store.sql.query(
        `UPDATE "${store.schema}".flags SET pinned_state = 'on', pinned_until = now() + interval '1 hour', pinned_by = 'bob'
          WHERE feature = 'f' AND cohort = 'treatment'`,
      );
      const cmd = rollback('f', 'treatment');
      await expect(repo.applyCommand(cmd)).resolves.toEqual({ status: 'skipped_pinned', version: 1 });

      const flag = await repo.getFlag('f');
      expect(flag!.cohorts.treatment.state).toBe('on');
      expect(Date.parse(flag!.cohorts.treatment.pinnedUntil!)).toBeGreaterThan(Date.now());
      const [latest] = await repo.auditLog('f', 1);
      expect(latest).toMatchObject({ commandId: cmd.commandId, outcome: 'skipped_pinned', fromState: 'on', toState: 'off', version: 1 });
      expect(latest.reason).toMatch(/pinned on until .* by bob/);
      expect(latest.evidence).toEqual(cmd.evidence);
      expect(await repo.pendingOutbox(10)).toHaveLength(1); // only ensureGuarded's
      await expect(repo.applyCommand(cmd)).resolves.toEqual({ status: 'duplicate', version: 1 });
    });

    it('ignores an expired pin', async () => {
      await repo.ensureGuarded('f', ['treatment']);
      await store.sql.query(
        `UPDATE "${store.schema}".flags SET pinned_state = 'on', pinned_until = now() - interval '1 minute', pinned_by = 'bob'
          WHERE feature = 'f' AND cohort = 'treatment'`,
      );
      await expect(repo.applyCommand(rollback('f', 'treatment'))).resolves.toEqual({ status: 'applied', version: 2 });
      const flag = await repo.getFlag('f');
      expect(flag!.cohorts.treatment.state).toBe('off');
      expect(flag!.cohorts.treatment.pinnedUntil).toBeUndefined();
    });

    it('gives guarded cohorts an on row once, moving the version only when something was inserted', async () => {
      await expect(repo.ensureGuarded('f', ['treatment', 'beta'])).resolves.toEqual({ inserted: ['beta', 'treatment'], version: 1 });
      await expect(repo.ensureGuarded('f', ['treatment', 'beta'])).resolves.toEqual({ inserted: [], version: 1 });
      await repo.applyCommand(rollback('f', 'beta'));
      await expect(repo.ensureGuarded('f', ['beta', 'gamma'])).resolves.toEqual({ inserted: ['gamma'], version: 3 });
      await expect(repo.ensureGuarded('unknown', [])).resolves.toEqual({ inserted: [], version: 0 });

      const flag = await repo.getFlag('f');
      expect(flag).toMatchObject({ version: 3, cohorts: { beta: { state: 'off' }, treatment: { state: 'on', version: 1 }, gamma: { state: 'on', version: 3 } } });
      expect((await repo.pendingOutbox(10)).map((o) => o.version)).toEqual([1, 2, 3]);
      expect((await repo.auditLog('f', 10)).filter((a) => a.source === 'rules').map((a) => a.cohort).sort()).toEqual(['beta', 'gamma', 'treatment']);
      expect(await repo.getFlag('unknown')).toBeNull();
    });

    it('serialises concurrent commands on one feature into distinct versions', async () => {
      const cmds = Array.from({ length: 8 }, (_, i) => rollback('f', `c${i}`));
      const results = await Promise.all(cmds.map((c) => repo.applyCommand(c)));
      expect(results.map((r) => r.status)).toEqual(cmds.map(() => 'applied'));
      expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      const outbox = await repo.pendingOutbox(100);
      // Each snapshot holds exactly the cohorts committed up to its version.
      for (const o of outbox) expect(Object.keys(o.payload.cohorts)).toHaveLength(o.version);
      expect((await repo.getFlag('f'))!.version).toBe(8);
    });

    it('applies one command delivered concurrently exactly once', async () => {
      const cmd = rollback('f', 'treatment');
      const results = await Promise.all(Array.from({ length: 5 }, () => repo.applyCommand(cmd)));
      expect(results.filter((r) => r.status === 'applied')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'duplicate')).toHaveLength(4);
      expect(await counts()).toEqual({ audit: 1, outbox: 1, applied: 1 });
    });

    it('marks outbox rows published and lists snapshots of every feature', async () => {
      await repo.applyCommand(rollback('f1', 'a'));
      await repo.applyCommand(rollback('f2', 'a'));
      await repo.applyCommand(restore('f1', 'a'));
      const pending = await repo.pendingOutbox(2);
      expect(pending.map((p) => [p.feature, p.version])).toEqual([['f1', 1], ['f2', 1]]);
      await expect(repo.markPublished(pending.map((p) => p.id))).resolves.toBe(2);
      await expect(repo.markPublished(pending.map((p) => p.id))).resolves.toBe(0);
      expect((await repo.pendingOutbox(10)).map((p) => [p.feature, p.version])).toEqual([['f1', 2]]);

      await expect(repo.allFeatureSnapshots()).resolves.toEqual([
        { feature: 'f1', version: 2, cohorts: { a: 'on' } },
        { feature: 'f2', version: 1, cohorts: { a: 'off' } },
      ]);
    });

    it('refuses malformed commands before writing anything', async () => {
      await expect(repo.applyCommand(rollback('f', 'version'))).rejects.toBeInstanceOf(PmfError);
      await expect(repo.applyCommand(rollback('f', 'a', { state: 'maybe' as 'on' }))).rejects.toThrow(/state must be "on" or "off"/);
      await expect(repo.applyCommand(rollback('', 'a'))).rejects.toThrow(/feature must be a non-empty string/);
      await expect(repo.ensureGuarded('f', ['version'])).rejects.toThrow(/cannot be named "version"/);
      expect(await counts()).toEqual({ audit: 0, outbox: 0, applied: 0 });
      expect(await countRows(store.sql, store.schema, 'feature_versions')).toBe(0);
    });
  });
}
