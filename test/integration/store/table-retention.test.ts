// Table retention on both drivers: rows older than their retention (measured on the injected clock)
// go in batches, the audit is kept longest, a pending outbox row is never deleted, and on PGlite
// the vacuum pass runs.

import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { TableRetention } from '../../../src/store/table-retention.js';
import { countRows, openMigratedStore, pgDriver, pgliteDriver, type StoreDriver } from '../flags/flag-store-fixture.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-01T00:00:00Z');
const ago = (days: number) => new Date(NOW - days * DAY).toISOString();

for (const driver of [pgDriver, pgliteDriver()] as StoreDriver[]) {
  describe(`table retention on ${driver.name}`, () => {
    afterAll(() => driver.dispose?.());

    it('deletes what is past retention in batches, and keeps the rest and every pending outbox row', async () => {
      const store = await openMigratedStore(driver);
      const { sql, schema } = store;
      try {
        const s = `"${schema}"`;
        for (const [i, days] of [400, 380, 200, 100, 10].entries()) {
          await sql.query(
            `INSERT INTO ${s}.audit_log (command_id, feature, cohort, to_state, version, source, reason, outcome, created_at)
             VALUES ($1, 'f', 'treatment', 'off', 1, 'verdict', 'r', 'applied', $2)`,
            [`c${i}`, ago(days)],
          );
          await sql.query(`INSERT INTO ${s}.applied_commands (command_id, applied_at, result) VALUES ($1, $2, '{}')`, [`c${i}`, ago(days)]);
          await sql.query(`INSERT INTO ${s}.outbox (feature, version, payload, created_at, published_at) VALUES ('f', $1, '{}', $2, $2)`, [i + 1, ago(days)]);
        }
        // Never delivered, however old: the relay still owes it to the cache.
        await sql.query(`INSERT INTO ${s}.outbox (feature, version, payload, created_at) VALUES ('f', 9, '{}', $1)`, [ago(500)]);

        const errors: unknown[] = [];
        const job = new TableRetention({
          sql, schema, clock: new ManualClock(NOW), trim: true,
          auditLogDays: 365, appliedCommandsDays: 90, deliveredOutboxDays: 7,
          intervalMs: 3_600_000, batchSize: 2, onError: (err) => errors.push(err),
        });
        expect(await job.trim()).toEqual({ auditLog: 2, appliedCommands: 4, outbox: 5 });
        expect(await countRows(sql, schema, 'audit_log')).toBe(3);
        expect(await countRows(sql, schema, 'applied_commands')).toBe(1);
        const { rows } = await sql.query<{ version: unknown; published_at: unknown }>(`SELECT version, published_at FROM ${s}.outbox`);
        expect(rows.map((r) => [Number(r.version), r.published_at])).toEqual([[9, null]]);
        expect(await job.trim()).toEqual({ auditLog: 0, appliedCommands: 0, outbox: 0 });
        expect(job.stats()).toMatchObject({ auditLogDeleted: 2, appliedCommandsDeleted: 4, outboxDeleted: 5, failures: 0 });
        expect(errors).toEqual([]);
      } finally {
        await store.close();
      }
    });

    it('runs on the injected clock: nothing before the interval, then a trim', async () => {
      const store = await openMigratedStore(driver);
      const { sql, schema } = store;
      try {
        await sql.query(`INSERT INTO "${schema}".applied_commands (command_id, applied_at, result) VALUES ('old', $1, '{}')`, [ago(100)]);
        const clock = new ManualClock(NOW);
        const job = new TableRetention({
          sql, schema, clock, trim: true, auditLogDays: 365, appliedCommandsDays: 90, deliveredOutboxDays: 7,
          intervalMs: 3_600_000, batchSize: 100, vacuumIntervalMs: driver.name === 'PGlite' ? 30_000 : undefined,
          onError: (err) => { throw err; },
        });
        await job.start();
        clock.advance(29_000);
        expect(await countRows(sql, schema, 'applied_commands')).toBe(1);
        clock.advance(60_000); // the first trim comes a minute after start, then hourly
        await expect.poll(() => job.stats().appliedCommandsDeleted).toBe(1);
        if (driver.name === 'PGlite') await expect.poll(() => job.stats().vacuums).toBeGreaterThan(0);
        await job.stop();
        expect(job.stats().failures).toBe(0);
      } finally {
        await store.close();
      }
    });
  });
}
