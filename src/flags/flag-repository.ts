// PostgreSQL is the truth for flag state. Every write to a feature locks that feature's row in
// feature_versions first, so writers of one feature are serialised and its version only grows;
// the outbox row written in the same transaction is what later reaches Redis. One transaction
// moves a feature's version by at most one, however many cohorts it touches.
//
// This class is the store's one entry point; the work lives in flag-commands.ts (command
// application and rollout steps), flag-pins.ts (pins), flag-queries.ts (reads),
// flag-outbox-store.ts (the outbox) and flag-write-context.ts (the shared write transaction).

import type { FlagCommand } from '../events/flag-command.js';
import type { SqlClient } from '../store/sql-client.js';
import { FlagCommands } from './flag-commands.js';
import { FlagOutboxStore } from './flag-outbox-store.js';
import { FlagPins } from './flag-pins.js';
import { FlagQueries } from './flag-queries.js';
import type {
  AppliedCommand,
  ApplyResult,
  AuditEntry,
  AuditQuery,
  EnsureGuardedResult,
  ExpiredPin,
  FeatureFlags,
  FeatureSnapshot,
  FlagRepositoryOptions,
  OutboxEntry,
  PinChangeResult,
  PinRequest,
  RolloutStart,
  UnpinRequest,
} from './flag-repository-types.js';
import { FlagWriteContext } from './flag-write-context.js';

export type * from './flag-repository-types.js';

export class FlagRepository {
  private readonly commands: FlagCommands;
  private readonly pins: FlagPins;
  private readonly queries: FlagQueries;
  private readonly outbox: FlagOutboxStore;

  /** `schema` must already be migrated (see migrations.ts). */
  constructor(sql: SqlClient, schema: string, options: FlagRepositoryOptions = {}) {
    const ctx = new FlagWriteContext(sql, schema, options);
    this.pins = new FlagPins(ctx);
    this.commands = new FlagCommands(ctx, this.pins);
    this.queries = new FlagQueries(ctx);
    this.outbox = new FlagOutboxStore(sql, ctx.t.outbox);
  }

  /** Applies a command exactly once, in one transaction (see docs/architecture.md). */
  async applyCommand(cmd: FlagCommand): Promise<ApplyResult> {
    return (await this.commands.applyCommand(cmd)).result;
  }

  /** applyCommand, also giving the outbox row when it was written in one call (the writer sends it to Redis at once). */
  applyCommandWithOutbox(cmd: FlagCommand): Promise<AppliedCommand> {
    return this.commands.applyCommand(cmd);
  }

  /** Gives every guarded cohort of a rule a flag row in state `on` if it has none. */
  ensureGuarded(feature: string, cohorts: readonly string[], reason: string | undefined = undefined, rollout?: RolloutStart): Promise<EnsureGuardedResult> {
    return this.commands.ensureGuarded(feature, cohorts, reason, rollout);
  }

  /** Pins a cohort to a state until a time; automatic commands against it wait until the pin ends. */
  pin(req: PinRequest): Promise<PinChangeResult> {
    return this.pins.pin(req);
  }

  /** Removes a pin now; the automatic command it held (if any) takes effect unless releaseHeld is false. */
  unpin(req: UnpinRequest): Promise<PinChangeResult> {
    return this.pins.unpin(req);
  }

  /** Ends every pin whose time has passed (releasing held commands); at most `limit` features per call. */
  expirePins(limit = 100): Promise<ExpiredPin[]> {
    return this.pins.expirePins(limit);
  }

  /** Every feature the store has flag rows for, sorted. */
  listFeatures(): Promise<string[]> {
    return this.queries.listFeatures();
  }

  /** The admin API's view of a feature, or null if it has no flag rows. */
  getFlag(feature: string): Promise<FeatureFlags | null> {
    return this.queries.getFlag(feature);
  }

  /** A feature's audit entries, newest first (a number is the limit, for older callers). */
  auditLog(feature: string, query: number | AuditQuery = {}): Promise<AuditEntry[]> {
    return this.queries.auditLog(feature, query);
  }

  /** Every feature's current state, for reconciling Redis at start-up. */
  allFeatureSnapshots(): Promise<FeatureSnapshot[]> {
    return this.queries.allFeatureSnapshots();
  }

  /** One feature's current state read in one statement (version and cohorts agree), or null. */
  featureSnapshot(feature: string): Promise<FeatureSnapshot | null> {
    return this.queries.featureSnapshot(feature);
  }

  /** Unpublished outbox rows, oldest first, leaving out the features in `except` (quarantined by the relay). */
  pendingOutbox(limit = 100, except: readonly string[] = []): Promise<OutboxEntry[]> {
    return this.outbox.pendingOutbox(limit, except);
  }

  /** Marks outbox rows as published; returns how many were still pending. */
  markPublished(ids: readonly number[]): Promise<number> {
    return this.outbox.markPublished(ids);
  }
}
