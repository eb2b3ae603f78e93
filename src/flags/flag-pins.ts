// Manual pins: pinning a cohort to a state until a time, unpinning it, expiring pins whose time
// has passed, and ending a pin inside a write (which releases or discards the automatic command
// the pin held back, including a rollout step).

import type { ExpiredPin, PinChangeResult, PinRequest, UnpinRequest } from './flag-repository-types.js';
import { assertCohort, assertName, assertState, cohortColumns, invalidRequest, isoTime, numberOrNull, type CohortRow, type FeatureWrite, type FlagWriteContext, type PinEnd } from './flag-write-context.js';
import { decideRollout } from './rollout-apply.js';

export class FlagPins {
  constructor(private readonly ctx: FlagWriteContext) {}

  /**
   * Pins a cohort to a state until a time: the flag takes that state now (a new version if it
   * differs) and automatic commands against it are held back until the pin ends.
   */
  async pin(req: PinRequest): Promise<PinChangeResult> {
    assertName('commandId', req.commandId);
    assertName('feature', req.feature);
    assertCohort(req.cohort);
    assertState(req.state, req.commandId);
    assertName('actor', req.actor);
    const until = Date.parse(req.until);
    if (Number.isNaN(until)) throw invalidRequest(`pin until must be an ISO 8601 time, got ${JSON.stringify(req.until)}`);
    if (until <= this.ctx.clock.now()) throw invalidRequest(`pin until ${req.until} is not in the future`);
    const untilIso = new Date(until).toISOString();

    return this.ctx.withFeature(req.feature, async (w) => {
      const seen = await this.ctx.priorResult(w.tx, req.commandId);
      if (seen) return { ...seen, status: 'duplicate' };
      let row = await this.ctx.existingRow(w, req.cohort);
      let released: string | undefined;
      if (row.pinned_state !== null && !row.pin_active) {
        released = await this.endPin(w, req.cohort, row, expiredPinEnd(row));
        row = await this.ctx.existingRow(w, req.cohort);
      }
      const moves = row.state !== req.state;
      const version = moves ? w.change() : w.version;
      const heldObsolete = row.held_command !== null && row.held_command.state === req.state;
      await w.tx.query(
        `UPDATE ${this.ctx.t.flags}
            SET pinned_state = $3, pinned_until = $4::timestamptz, pinned_by = $5, pin_reason = $6,
                held_command = CASE WHEN $7::boolean THEN NULL ELSE held_command END,
                state = $3, version = CASE WHEN $9::boolean THEN $8::bigint ELSE version END,
                reason = CASE WHEN $9::boolean THEN $10 ELSE reason END,
                updated_at = CASE WHEN $9::boolean THEN now() ELSE updated_at END
          WHERE feature = $1 AND cohort = $2`,
        [req.feature, req.cohort, req.state, untilIso, req.actor, req.reason, heldObsolete, version, moves, `pinned ${req.state} by ${req.actor}: ${req.reason}`],
      );
      this.ctx.audit(w, {
        commandId: req.commandId,
        cohort: req.cohort,
        action: 'pin',
        from: row.state,
        to: req.state,
        source: 'manual',
        actor: req.actor,
        reason: `pinned ${req.state} until ${untilIso}: ${req.reason}`,
        evidence: null,
        outcome: 'applied',
      });
      const result: PinChangeResult = { status: 'applied', version: w.version };
      if (released) result.released = released;
      await this.ctx.recordResult(w.tx, req.commandId, result);
      return result;
    });
  }

  /** Removes a pin now; the automatic command it held (if any) takes effect unless releaseHeld is false. */
  async unpin(req: UnpinRequest): Promise<PinChangeResult> {
    assertName('commandId', req.commandId);
    assertName('feature', req.feature);
    assertCohort(req.cohort);
    assertName('actor', req.actor);
    return this.ctx.withFeature(req.feature, async (w) => {
      const seen = await this.ctx.priorResult(w.tx, req.commandId);
      if (seen) return { ...seen, status: 'duplicate' };
      const row = await this.ctx.existingRow(w, req.cohort);
      let result: PinChangeResult;
      if (row.pinned_state === null) {
        this.ctx.audit(w, {
          commandId: req.commandId,
          cohort: req.cohort,
          action: 'unpin',
          from: row.state,
          to: row.state,
          source: 'manual',
          actor: req.actor,
          reason: `no pin to remove: ${req.reason}`,
          evidence: null,
          outcome: 'no_change',
        });
        result = { status: 'no_change', version: w.version };
      } else {
        const released = await this.endPin(w, req.cohort, row, {
          action: 'unpin',
          commandId: req.commandId,
          source: 'manual',
          actor: req.actor,
          reason: `pin ${row.pinned_state} removed by ${req.actor}: ${req.reason}`,
          releaseHeld: req.releaseHeld ?? true,
        });
        result = { status: 'applied', version: w.version };
        if (released) result.released = released;
      }
      await this.ctx.recordResult(w.tx, req.commandId, result);
      return result;
    });
  }

  /** Ends every pin whose time has passed (releasing held commands); at most `limit` features per call. */
  async expirePins(limit = 100): Promise<ExpiredPin[]> {
    const now = this.ctx.nowIso();
    const { rows } = await this.ctx.sql.query<{ feature: string }>(
      `SELECT DISTINCT feature FROM ${this.ctx.t.flags}
        WHERE pinned_state IS NOT NULL AND (pinned_until IS NULL OR pinned_until <= $1::timestamptz)
        ORDER BY feature LIMIT $2`,
      [now, limit],
    );
    const expired: ExpiredPin[] = [];
    for (const { feature } of rows) {
      const ended = await this.ctx.withFeature(feature, async (w) => {
        // Re-read under the lock: a person may have re-pinned or unpinned meanwhile.
        const { rows: cohorts } = await w.tx.query<CohortRow & { cohort: string }>(
          `SELECT cohort, ${cohortColumns('$2')} FROM ${this.ctx.t.flags}
            WHERE feature = $1 AND pinned_state IS NOT NULL AND (pinned_until IS NULL OR pinned_until <= $2::timestamptz)
            ORDER BY cohort`,
          [feature, this.ctx.nowIso()],
        );
        const out: { cohort: string; released?: string }[] = [];
        for (const row of cohorts) {
          const released = await this.endPin(w, row.cohort, row, expiredPinEnd(row));
          out.push(released ? { cohort: row.cohort, released } : { cohort: row.cohort });
        }
        return out.map((o) => ({ feature, version: w.version, ...o }));
      });
      expired.push(...ended);
    }
    return expired;
  }

  /** Ends a pin inside w's transaction; returns the id of the held command it applied, if any. */
  async endPin(w: FeatureWrite, cohort: string, row: CohortRow, end: PinEnd): Promise<string | undefined> {
    await w.tx.query(
      `UPDATE ${this.ctx.t.flags}
          SET pinned_state = NULL, pinned_until = NULL, pinned_by = NULL, pin_reason = NULL, held_command = NULL
        WHERE feature = $1 AND cohort = $2`,
      [w.feature, cohort],
    );
    this.ctx.audit(w, {
      commandId: end.commandId,
      cohort,
      action: end.action,
      from: row.state,
      to: row.state,
      source: end.source,
      actor: end.actor,
      reason: end.reason,
      evidence: null,
      outcome: 'applied',
    });
    const held = row.held_command;
    if (!held) return undefined;
    const fromAllocation = numberOrNull(row.allocation);
    const heldEntry = {
      commandId: held.commandId, cohort, action: held.action, from: row.state, to: held.state, source: held.source, actor: held.actor ?? null, evidence: held.evidence,
      fromAllocation, toAllocation: fromAllocation,
    };
    if (!end.releaseHeld) {
      this.ctx.audit(w, { ...heldEntry, reason: `discarded when the pin ended (${end.actor ?? 'system'}): ${held.reason}`, outcome: 'skipped_pinned' });
      return undefined;
    }
    if (held.rollout) {
      const decision = decideRollout({ state: row.state, allocation: fromAllocation, rollout: row.rollout }, { ...held, rollout: held.rollout });
      if (decision.outcome === 'no_change') {
        this.ctx.audit(w, { ...heldEntry, reason: `released when the pin ended; ${decision.reason ?? 'nothing to change'}: ${held.reason}`, outcome: 'no_change' });
        return undefined;
      }
      const version = w.change();
      await this.ctx.writeCohort(w.tx, w.feature, cohort, version, held.reason, decision.state, decision.allocation, decision.rollout);
      this.ctx.audit(w, { ...heldEntry, toAllocation: decision.allocation, reason: `released when the pin ended: ${held.reason}`, outcome: 'applied' });
      return held.commandId;
    }
    if (held.state === row.state) {
      this.ctx.audit(w, { ...heldEntry, reason: `released when the pin ended; cohort already ${row.state}: ${held.reason}`, outcome: 'no_change' });
      return undefined;
    }
    const version = w.change();
    await w.tx.query(
      `UPDATE ${this.ctx.t.flags} SET state = $3, version = $4, reason = $5, updated_at = now() WHERE feature = $1 AND cohort = $2`,
      [w.feature, cohort, held.state, version, held.reason],
    );
    this.ctx.audit(w, { ...heldEntry, reason: `released when the pin ended: ${held.reason}`, outcome: 'applied' });
    return held.commandId;
  }
}

export function expiredPinEnd(row: CohortRow): PinEnd {
  const by = row.pinned_by ? ` by ${row.pinned_by}` : '';
  const until = row.pinned_until === null || row.pinned_until === undefined ? 'an unknown time' : isoTime(row.pinned_until);
  return { action: 'pin_expired', commandId: null, source: 'system', actor: null, reason: `pin ${row.pinned_state}${by} expired at ${until}`, releaseHeld: true };
}
