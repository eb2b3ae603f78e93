// Command application: a flag command (rollback, restore, or a rollout step) applied exactly once
// under the feature's lock, honouring pins (automatic commands wait behind one), and the rules'
// registration of guarded cohorts (optionally starting their rollout).

import type { FlagCommand } from '../events/flag-command.js';
import type { AppliedCommand, ApplyResult, ApplyStatus, AuditOutcome, EnsureGuardedResult, FeatureSnapshot, RolloutStart } from './flag-repository-types.js';
import type { FlagPins } from './flag-pins.js';
import { expiredPinEnd } from './flag-pins.js';
import { assertCohort, assertCommand, assertName, isoTime, numberOrNull, type FlagWriteContext } from './flag-write-context.js';
import { decideRollout, type StoredRollout } from './rollout-apply.js';

export class FlagCommands {
  constructor(private readonly ctx: FlagWriteContext, private readonly pins: FlagPins) {}

  /** Applies a command exactly once, in one transaction (see docs/architecture.md). */
  async applyCommand(cmd: FlagCommand): Promise<AppliedCommand> {
    assertCommand(cmd);
    if (this.ctx.commandsInOneCall) return this.applyInOneCall(cmd);
    return { result: await this.applyGeneral(cmd) };
  }

  // Any command in one round trip: the function of migration 8 does what applyGeneral does, pins,
  // held commands and rollout steps included. The command goes as the JSON applyGeneral would
  // store as a held command, and the writer's clock decides whether a pin is in force, as there.
  private async applyInOneCall(cmd: FlagCommand): Promise<AppliedCommand> {
    const { rows } = await this.ctx.sql.query<{ r: OneCallReply }>(`SELECT ${this.ctx.t.applyCommand}($1::jsonb, $2::timestamptz) AS r`, [
      JSON.stringify(cmd),
      this.ctx.nowIso(),
    ]);
    const r = rows[0].r;
    const result: ApplyResult = { status: r.status, version: Number(r.version) };
    if (r.outbox_id === undefined || !r.payload) return { result };
    return { result, outbox: { id: Number(r.outbox_id), feature: cmd.feature, version: result.version, payload: r.payload } };
  }

  // The same work as a multi-statement transaction: every command's path before migration 8, kept
  // as the reference the one-call path is compared with row for row (command-round-trips.test.ts)
  // and as bench:flags' in-run baseline (option commandsInOneCall: false).
  private applyGeneral(cmd: FlagCommand): Promise<ApplyResult> {
    return this.ctx.withFeature(cmd.feature, async (w) => {
      // Checked after the lock: a concurrent delivery of the same command has committed by now.
      const seen = await this.ctx.priorResult(w.tx, cmd.commandId);
      if (seen) return { status: 'duplicate', version: seen.version };

      let row = await this.ctx.cohortRow(w.tx, cmd.feature, cmd.cohort);
      if (row && row.pinned_state !== null && !row.pin_active) {
        await this.pins.endPin(w, cmd.cohort, row, expiredPinEnd(row));
        row = await this.ctx.cohortRow(w.tx, cmd.feature, cmd.cohort);
      }
      const fromState = row?.state ?? null;
      const automatic = cmd.source === 'verdict';

      let outcome: AuditOutcome;
      let reason = cmd.reason;
      const fromAllocation = row ? numberOrNull(row.allocation) : null;
      let toAllocation = cmd.rollout ? cmd.rollout.percent : fromAllocation;
      // A pin freezes a cohort in a rollout entirely: its allocation is part of what was pinned.
      if (row?.pin_active && (cmd.rollout !== undefined || row.pinned_state !== cmd.state)) {
        outcome = 'skipped_pinned';
        const by = row.pinned_by ? ` by ${row.pinned_by}` : '';
        const held = automatic ? '; held until the pin ends' : '';
        reason = `not applied: cohort pinned ${row.pinned_state} until ${isoTime(row.pinned_until)}${by}${held}; command reason: ${cmd.reason}`;
        // Only automatic commands wait: a person gets the refusal back and can decide again.
        if (automatic) await this.ctx.setHeld(w, cmd.cohort, cmd);
        toAllocation = fromAllocation;
      } else if (cmd.rollout) {
        const decision = decideRollout(row ? { state: row.state, allocation: fromAllocation, rollout: row.rollout } : null, { ...cmd, rollout: cmd.rollout });
        if (decision.outcome === 'no_change') {
          outcome = 'no_change';
          if (decision.reason) reason = decision.reason;
          toAllocation = fromAllocation;
        } else {
          outcome = 'applied';
          const version = w.change();
          await this.ctx.writeCohort(w.tx, cmd.feature, cmd.cohort, version, cmd.reason, decision.state, decision.allocation, decision.rollout);
        }
      } else if (fromState === cmd.state) {
        outcome = 'no_change';
        // A newer automatic decision that agrees with the pin makes a held one obsolete.
        if (automatic && row?.held_command) await this.ctx.setHeld(w, cmd.cohort, null);
      } else {
        outcome = 'applied';
        const version = w.change();
        await w.tx.query(
          `INSERT INTO ${this.ctx.t.flags} (feature, cohort, state, version, reason, updated_at)
           VALUES ($1, $2, $3, $4, $5, now())
           ON CONFLICT (feature, cohort) DO UPDATE
             SET state = excluded.state, version = excluded.version, reason = excluded.reason,
                 updated_at = excluded.updated_at, held_command = NULL`,
          [cmd.feature, cmd.cohort, cmd.state, version, cmd.reason],
        );
      }

      this.ctx.audit(w, {
        commandId: cmd.commandId,
        cohort: cmd.cohort,
        action: cmd.action,
        from: fromState,
        to: cmd.state,
        fromAllocation,
        toAllocation,
        source: cmd.source,
        actor: cmd.actor ?? null,
        reason,
        evidence: cmd.evidence,
        outcome,
      });
      const result: ApplyResult = { status: outcome, version: w.version };
      await this.ctx.recordResult(w.tx, cmd.commandId, result);
      return result;
    });
  }

  /**
   * Gives every guarded cohort of a rule a flag row in state `on` if it has none. The version
   * moves (and an outbox row is written) only when a row was inserted, so reloading rules is free.
   */
  async ensureGuarded(feature: string, cohorts: readonly string[], reason: string | undefined = undefined, rollout?: RolloutStart): Promise<EnsureGuardedResult> {
    reason ??= 'guarded cohort registered by rules';
    assertName('feature', feature);
    for (const c of cohorts) assertCohort(c);
    if (cohorts.length === 0) {
      const { rows } = await this.ctx.sql.query<{ version: unknown }>(`SELECT version FROM ${this.ctx.t.versions} WHERE feature = $1`, [feature]);
      return { inserted: [], version: rows.length > 0 ? Number(rows[0].version) : 0 };
    }
    return this.ctx.withFeature(feature, async (w) => {
      const { rows } = await w.tx.query<{ cohort: string }>(
        `INSERT INTO ${this.ctx.t.flags} (feature, cohort, state, version, reason, updated_at, allocation, rollout)
         SELECT $1, c, 'on', $2, $3, now(), $5::numeric, $6::jsonb FROM jsonb_array_elements_text($4::jsonb) AS c
         ON CONFLICT (feature, cohort) DO NOTHING
         RETURNING cohort`,
        [
          feature,
          w.before + 1,
          reason,
          JSON.stringify([...new Set(cohorts)]),
          rollout ? rollout.percent : null,
          rollout ? JSON.stringify({ stage: 1, stages: rollout.stages, status: 'ramping', salt: rollout.salt, control: rollout.control } satisfies StoredRollout) : null,
        ],
      );
      if (rows.length === 0) return { inserted: [], version: w.version };
      w.change();
      const inserted = rows.map((r) => r.cohort).sort();
      for (const cohort of inserted) {
        this.ctx.audit(w, {
          commandId: null,
          cohort,
          action: 'register',
          from: null,
          to: 'on',
          toAllocation: rollout ? rollout.percent : null,
          source: 'rules',
          actor: null,
          reason,
          evidence: null,
          outcome: 'applied',
        });
      }
      return { inserted, version: w.version };
    });
  }
}

/** What apply_command returns: the result and, when the version moved, the outbox row it wrote. */
interface OneCallReply {
  status: ApplyStatus;
  version: number;
  outbox_id?: number;
  payload?: FeatureSnapshot;
}
