// Keeps the flag store's history tables bounded: audit entries, applied command ids and delivered
// outbox rows older than their retention are deleted in batches, on a timer of the injected clock
// (and with cut-offs computed from it). The audit is kept longest (the config enforces it); an
// outbox row still pending is never touched. On PGlite, which has no autovacuum, the same job
// vacuums the tables it and the stages rewrite (checkpoints every second) and checkpoints the WAL,
// so the embedded data directory stops growing.

import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Component } from '../core/lifecycle.js';
import { quoteIdent, type SqlClient } from './sql-client.js';

const DAY_MS = 86_400_000;

export interface TableRetentionOptions {
  sql: SqlClient;
  schema: string;
  clock: Clock;
  auditLogDays: number;
  appliedCommandsDays: number;
  deliveredOutboxDays: number;
  /** How often the trim runs. */
  intervalMs: number;
  /** Rows per DELETE statement. */
  batchSize: number;
  /** PGlite: VACUUM the rewritten tables and CHECKPOINT this often (absent: never, PostgreSQL autovacuums). */
  vacuumIntervalMs?: number;
  /** Trim the flag tables (the flag-writer role); false = only vacuum. */
  trim: boolean;
  onError: (err: unknown, context: string) => void;
}

export interface TableRetentionStats {
  auditLogDeleted: number;
  appliedCommandsDeleted: number;
  outboxDeleted: number;
  vacuums: number;
  failures: number;
}

export class TableRetention implements Component {
  readonly name = 'table-retention';
  private readonly t: { audit: string; applied: string; outbox: string; all: string[] };
  private readonly counters: TableRetentionStats = { auditLogDeleted: 0, appliedCommandsDeleted: 0, outboxDeleted: 0, vacuums: 0, failures: 0 };
  private timers: { cancel(): void }[] = [];
  private running = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly o: TableRetentionOptions) {
    const s = quoteIdent(o.schema);
    this.t = {
      audit: `${s}.audit_log`,
      applied: `${s}.applied_commands`,
      outbox: `${s}.outbox`,
      all: ['stream_checkpoints', 'stream_checkpoint_parts', 'flags', 'feature_versions', 'outbox', 'applied_commands', 'audit_log'].map((n) => `${s}.${n}`),
    };
  }

  stats(): TableRetentionStats {
    return { ...this.counters };
  }

  async start(): Promise<void> {
    // The first trim comes soon after start, so a process restarted more often than intervalMs still trims.
    if (this.o.trim) this.every(this.o.intervalMs, () => this.trim(), 'table retention', Math.min(this.o.intervalMs, 60_000));
    if (this.o.vacuumIntervalMs !== undefined) this.every(this.o.vacuumIntervalMs, () => this.vacuum(), 'PGlite vacuum');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) t.cancel();
    await Promise.allSettled([...this.running]);
  }

  /** Deletes every row past its retention; returns how many per table. */
  async trim(): Promise<{ auditLog: number; appliedCommands: number; outbox: number }> {
    const now = this.o.clock.now();
    const cutoff = (days: number) => new Date(now - days * DAY_MS).toISOString();
    const auditLog = await this.deleteBatches(
      `DELETE FROM ${this.t.audit} WHERE id IN (SELECT id FROM ${this.t.audit} WHERE created_at < $1 ORDER BY created_at LIMIT $2)`,
      cutoff(this.o.auditLogDays),
    );
    const appliedCommands = await this.deleteBatches(
      `DELETE FROM ${this.t.applied} WHERE command_id IN (SELECT command_id FROM ${this.t.applied} WHERE applied_at < $1 ORDER BY applied_at LIMIT $2)`,
      cutoff(this.o.appliedCommandsDays),
    );
    const outbox = await this.deleteBatches(
      `DELETE FROM ${this.t.outbox} WHERE id IN (SELECT id FROM ${this.t.outbox} WHERE published_at IS NOT NULL AND published_at < $1 ORDER BY published_at LIMIT $2)`,
      cutoff(this.o.deliveredOutboxDays),
    );
    this.counters.auditLogDeleted += auditLog;
    this.counters.appliedCommandsDeleted += appliedCommands;
    this.counters.outboxDeleted += outbox;
    return { auditLog, appliedCommands, outbox };
  }

  /** VACUUM (plain: space is reused, no table lock) and CHECKPOINT, so WAL segments are recycled. */
  async vacuum(): Promise<void> {
    for (const table of this.t.all) await this.o.sql.query(`VACUUM ${table}`);
    await this.o.sql.query('CHECKPOINT');
    this.counters.vacuums++;
  }

  private async deleteBatches(statement: string, cutoff: string): Promise<number> {
    let total = 0;
    for (;;) {
      // RETURNING 1 counts rows on both drivers (PGlite reports no affected-row count through the port).
      const { rows } = await this.o.sql.query(`${statement} RETURNING 1`, [cutoff, this.o.batchSize]);
      total += rows.length;
      if (rows.length < this.o.batchSize || this.stopped) return total;
    }
  }

  private every(ms: number, task: () => Promise<unknown>, context: string, firstMs = ms): void {
    const timer = this.o.clock.setTimeout(() => {
      this.timers = this.timers.filter((t) => t !== timer);
      if (this.stopped) return;
      const run = task()
        .then(() => undefined)
        .catch((err: unknown) => {
          this.counters.failures++;
          this.o.onError(err, `${context} failed (retried in ${ms} ms): ${errorMessage(err)}`);
        })
        .finally(() => {
          this.running.delete(run);
          if (!this.stopped) this.every(ms, task, context);
        });
      this.running.add(run);
    }, firstMs);
    this.timers.push(timer);
  }
}
