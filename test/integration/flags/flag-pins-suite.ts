// Pins, run once per driver (PostgreSQL and PGlite) by the flag-pins.*.test.ts files: a person
// forces a cohort on or off until a time; automatic commands are held back meanwhile and said so
// in the audit log; when the pin ends (expiry, or unpin) the newest held automatic command takes
// effect, because the verdict engine never issues the same rollback id twice. Time is a ManualClock.

import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { FlagRepository, type PinRequest, type UnpinRequest } from '../../../src/flags/flag-repository.js';
import { uniqueName } from '../../helpers/services.js';
import { countRows, openMigratedStore, restore, rollback, type MigratedStore, type StoreDriver } from './flag-store-fixture.js';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const HOUR = 3_600_000;

export function describeFlagPins(driver: StoreDriver): void {
  describe(`flag pins on ${driver.name}`, () => {
    let store: MigratedStore;
    let repo: FlagRepository;
    let clock: ManualClock;

    const pin = (overrides: Partial<PinRequest> = {}): PinRequest => ({
      commandId: uniqueName('pin'),
      feature: 'f',
      cohort: 'treatment',
      state: 'on',
      until: new Date(clock.now() + HOUR).toISOString(),
      actor: 'bob',
      reason: 'launch partner demo',
      ...overrides,
    });
    const unpin = (overrides: Partial<UnpinRequest> = {}): UnpinRequest => ({
      commandId: uniqueName('unpin'),
      feature: 'f',
      cohort: 'treatment',
      actor: 'carol',
      reason: 'demo over',
      ...overrides,
    });
    const snapshot = async () => (await repo.featureSnapshot('f'))!;

    beforeEach(async () => {
      store = await openMigratedStore(driver);
      clock = new ManualClock(T0);
      repo = new FlagRepository(store.sql, store.schema, { clock });
      await repo.ensureGuarded('f', ['treatment', 'beta']);
    });
    afterEach(async () => {
      await store.close();
    });
    afterAll(async () => {
      await driver.dispose?.();
    });

    it('pins a cohort to a state at once, with a new version, an outbox snapshot and an audit entry', async () => {
      await repo.applyCommand(rollback('f', 'treatment'));
      const req = pin({ state: 'on' });
      await expect(repo.pin(req)).resolves.toEqual({ status: 'applied', version: 3 });

      const flag = (await repo.getFlag('f'))!;
      expect(flag.cohorts.treatment).toMatchObject({ state: 'on', version: 3, pinnedState: 'on', pinnedBy: 'bob', pinnedUntil: req.until });
      expect(flag.cohorts.beta.pinnedUntil).toBeUndefined();
      expect((await repo.pendingOutbox(10)).at(-1)!.payload).toEqual({ feature: 'f', version: 3, cohorts: { beta: 'on', treatment: 'on' } });
      const [entry] = await repo.auditLog('f', 1);
      expect(entry).toMatchObject({ commandId: req.commandId, action: 'pin', source: 'manual', actor: 'bob', fromState: 'off', toState: 'on', outcome: 'applied', version: 3 });
      expect(entry.reason).toBe(`pinned on until ${req.until}: launch partner demo`);
    });

    it('records a pin that matches the state without moving the version, and treats a retried pin as a no-op', async () => {
      const req = pin({ state: 'on' });
      await expect(repo.pin(req)).resolves.toEqual({ status: 'applied', version: 1 });
      const before = { audit: await countRows(store.sql, store.schema, 'audit_log'), outbox: await countRows(store.sql, store.schema, 'outbox'), flag: await repo.getFlag('f') };
      await expect(repo.pin({ ...req, state: 'off' })).resolves.toEqual({ status: 'duplicate', version: 1 });
      expect({ audit: await countRows(store.sql, store.schema, 'audit_log'), outbox: await countRows(store.sql, store.schema, 'outbox'), flag: await repo.getFlag('f') }).toEqual(before);
      expect(before.outbox).toBe(1);
    });

    it('holds an automatic rollback while pinned, says so, and applies it when the pin expires', async () => {
      const p = pin({ state: 'on' });
      await repo.pin(p);
      const cmd = rollback('f', 'treatment');
      await expect(repo.applyCommand(cmd)).resolves.toEqual({ status: 'skipped_pinned', version: 1 });
      const [held] = await repo.auditLog('f', 1);
      expect(held).toMatchObject({ commandId: cmd.commandId, action: 'rollback', outcome: 'skipped_pinned', source: 'verdict' });
      expect(held.reason).toMatch(/^not applied: cohort pinned on until .* by bob; held until the pin ends; command reason: fail: activation/);
      expect(held.evidence).toEqual(cmd.evidence);
      expect((await repo.getFlag('f'))!.cohorts.treatment.held).toEqual({ commandId: cmd.commandId, state: 'off', reason: cmd.reason });

      clock.advance(HOUR - 1);
      await expect(repo.expirePins()).resolves.toEqual([]);
      clock.advance(1);
      await expect(repo.expirePins()).resolves.toEqual([{ feature: 'f', cohort: 'treatment', version: 2, released: cmd.commandId }]);

      expect(await snapshot()).toEqual({ feature: 'f', version: 2, cohorts: { beta: 'on', treatment: 'off' } });
      const flag = (await repo.getFlag('f'))!.cohorts.treatment;
      expect(flag).toMatchObject({ state: 'off', version: 2, reason: cmd.reason });
      expect(flag.pinnedUntil).toBeUndefined();
      expect(flag.held).toBeUndefined();
      const [released, expired] = await repo.auditLog('f', 2);
      expect(expired).toMatchObject({ commandId: null, action: 'pin_expired', source: 'system', outcome: 'applied', version: 2 });
      expect(expired.reason).toBe(`pin on by bob expired at ${p.until}`);
      expect(released).toMatchObject({ commandId: cmd.commandId, action: 'rollback', source: 'verdict', fromState: 'on', toState: 'off', outcome: 'applied', version: 2 });
      expect(released.reason).toBe(`released when the pin ended: ${cmd.reason}`);
      expect(released.evidence).toEqual(cmd.evidence);
      await expect(repo.expirePins()).resolves.toEqual([]);
      // The id stays spent: the verdict engine re-emitting it changes nothing.
      await expect(repo.applyCommand(cmd)).resolves.toEqual({ status: 'duplicate', version: 1 });
    });

    it('ends an expired pin on the next command even before a sweep runs', async () => {
      await repo.pin(pin({ state: 'on' }));
      const held = rollback('f', 'treatment');
      await repo.applyCommand(held);
      clock.advance(2 * HOUR);
      const next = restore('f', 'treatment', { source: 'verdict' });
      // The held rollback is released first (v2), then the restore applies on top, in one version.
      await expect(repo.applyCommand(next)).resolves.toEqual({ status: 'applied', version: 2 });
      const entries = await repo.auditLog('f', 3);
      expect(entries.map((e) => [e.action, e.commandId, e.outcome, e.version])).toEqual([
        ['restore', next.commandId, 'applied', 2],
        ['rollback', held.commandId, 'applied', 2],
        ['pin_expired', null, 'applied', 2],
      ]);
      expect(await snapshot()).toMatchObject({ version: 2, cohorts: { treatment: 'on' } });
      expect((await repo.pendingOutbox(10)).map((o) => o.version)).toEqual([1, 2]);
    });

    it('refuses a manual command on a pinned cohort without holding it', async () => {
      await repo.pin(pin({ state: 'on' }));
      const manual = rollback('f', 'treatment', { source: 'manual', actor: 'dave' });
      await expect(repo.applyCommand(manual)).resolves.toEqual({ status: 'skipped_pinned', version: 1 });
      const [entry] = await repo.auditLog('f', 1);
      expect(entry.reason).not.toMatch(/held/);
      expect((await repo.getFlag('f'))!.cohorts.treatment.held).toBeUndefined();
      clock.advance(2 * HOUR);
      await expect(repo.expirePins()).resolves.toEqual([{ feature: 'f', cohort: 'treatment', version: 1 }]);
      expect((await snapshot()).cohorts.treatment).toBe('on');
    });

    it('releases the held command on unpin, or discards it when asked', async () => {
      await repo.pin(pin({ cohort: 'treatment', state: 'on' }));
      await repo.pin(pin({ cohort: 'beta', state: 'on' }));
      const heldT = rollback('f', 'treatment');
      const heldB = rollback('f', 'beta');
      await repo.applyCommand(heldT);
      await repo.applyCommand(heldB);

      const u = unpin({ cohort: 'treatment' });
      await expect(repo.unpin(u)).resolves.toEqual({ status: 'applied', version: 2, released: heldT.commandId });
      await expect(repo.unpin(u)).resolves.toEqual({ status: 'duplicate', version: 2, released: heldT.commandId });
      await expect(repo.unpin(unpin({ cohort: 'beta', releaseHeld: false }))).resolves.toEqual({ status: 'applied', version: 2 });
      expect(await snapshot()).toMatchObject({ version: 2, cohorts: { treatment: 'off', beta: 'on' } });

      const [discarded, unpinned] = await repo.auditLog('f', { cohort: 'beta', limit: 2 });
      expect(unpinned).toMatchObject({ action: 'unpin', actor: 'carol', outcome: 'applied' });
      expect(unpinned.reason).toBe('pin on removed by carol: demo over');
      expect(discarded).toMatchObject({ commandId: heldB.commandId, outcome: 'skipped_pinned' });
      expect(discarded.reason).toMatch(/^discarded when the pin ended \(carol\)/);
      await expect(repo.unpin(unpin({ cohort: 'beta' }))).resolves.toEqual({ status: 'no_change', version: 2 });
    });

    it('drops a held command once a newer automatic decision or a new pin agrees with the pin', async () => {
      await repo.pin(pin({ state: 'on' }));
      await repo.applyCommand(rollback('f', 'treatment'));
      await repo.applyCommand(restore('f', 'treatment', { source: 'verdict' })); // newer decision: keep on
      expect((await repo.getFlag('f'))!.cohorts.treatment.held).toBeUndefined();

      await repo.applyCommand(rollback('f', 'treatment'));
      await repo.pin(pin({ state: 'off' })); // the person now agrees with the held rollback
      expect((await repo.getFlag('f'))!.cohorts.treatment).toMatchObject({ state: 'off', pinnedState: 'off' });
      expect((await repo.getFlag('f'))!.cohorts.treatment.held).toBeUndefined();
      clock.advance(2 * HOUR);
      await expect(repo.expirePins()).resolves.toEqual([{ feature: 'f', cohort: 'treatment', version: 2 }]);
    });

    it('refuses bad pins before writing anything', async () => {
      const before = { audit: await countRows(store.sql, store.schema, 'audit_log'), applied: await countRows(store.sql, store.schema, 'applied_commands') };
      await expect(repo.pin(pin({ until: new Date(clock.now()).toISOString() }))).rejects.toThrow(/not in the future/);
      await expect(repo.pin(pin({ until: 'tomorrow' }))).rejects.toThrow(/ISO 8601/);
      await expect(repo.pin(pin({ cohort: 'nope' }))).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
      await expect(repo.pin(pin({ feature: 'unknown' }))).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
      await expect(repo.unpin(unpin({ cohort: 'nope' }))).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
      await expect(repo.pin(pin({ state: 'maybe' as 'on' }))).rejects.toThrow(/state must be/);
      await expect(repo.pin(pin({ actor: '' }))).rejects.toThrow(/actor/);
      expect({ audit: await countRows(store.sql, store.schema, 'audit_log'), applied: await countRows(store.sql, store.schema, 'applied_commands') }).toEqual(before);
      expect(await repo.getFlag('unknown')).toBeNull();
    });

    it('pages the audit log backwards and filters it by cohort', async () => {
      for (let i = 0; i < 3; i++) {
        await repo.applyCommand(rollback('f', 'beta'));
        await repo.applyCommand(restore('f', 'beta'));
      }
      const all = await repo.auditLog('f', { limit: 100 });
      expect(all).toHaveLength(8);
      const page1 = await repo.auditLog('f', { limit: 3 });
      const page2 = await repo.auditLog('f', { limit: 3, beforeId: page1.at(-1)!.id });
      expect([...page1, ...page2].map((e) => e.id)).toEqual(all.slice(0, 6).map((e) => e.id));
      expect((await repo.auditLog('f', { cohort: 'treatment' })).map((e) => e.action)).toEqual(['register']);
    });
  });
}
