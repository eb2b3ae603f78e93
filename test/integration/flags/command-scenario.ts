// A sequence of flag commands that takes every branch of command application: plain rollbacks
// and restores, replays, rollout steps of each kind (applied, unchanged, refused as a cut-back,
// a new cohort), active pins (automatic commands held, manual ones refused, an agreeing command
// clearing what was held) and expired pins met by a command (releasing a held plain command or
// rollout step, applied or not, or holding nothing). The round-trip test runs it on the one-call
// and the multi-statement paths and compares every row. Not a test file itself.

import type { ManualClock } from '../../../src/core/clock.js';
import type { FlagCommand, RolloutTarget } from '../../../src/events/flag-command.js';
import type { ApplyResult, FlagRepository, PinRequest } from '../../../src/flags/flag-repository.js';
import { restore, rollback, sampleVerdict, type MigratedStore } from './flag-store-fixture.js';

export const SCENARIO_START = Date.parse('2026-01-02T00:00:00.000Z');
/** How far the clock moves at an 'advance' step: past every pin of the scenario. */
const PAST_PINS_MS = 2 * 3600_000;

export type ScenarioStep = { cmd: FlagCommand } | { pin: PinRequest } | { advanceClock: true };

export const rampTarget = (stage: number, percent: number, status: RolloutTarget['status'] = 'ramping'): RolloutTarget => ({
  stage,
  stages: 4,
  percent,
  status,
  salt: 's1',
  control: 'control',
});

/** A rollout step on feature `ramp` (automatic unless `extra` says otherwise). */
export function rampStep(commandId: string, action: FlagCommand['action'], state: 'on' | 'off', rollout: RolloutTarget, extra: Partial<FlagCommand> = {}): FlagCommand {
  const evidence = { ...sampleVerdict('ramp', 'treatment'), outcome: 'pass' as const, reason: 'pass: fine' };
  return { commandId, feature: 'ramp', cohort: 'treatment', action, state, source: 'verdict', reason: `${action}: ${evidence.reason}`, evidence, issuedAt: '2026-01-02T03:04:06.000Z', rollout, ...extra };
}

const pin = (commandId: string, feature: string, cohort: string, state: 'on' | 'off', until: string): ScenarioStep => ({
  pin: { commandId, feature, cohort, state, until: `2026-01-02T${until}:00.000Z`, actor: 'bob', reason: 'hold' },
});
const manual = { source: 'manual' as const, actor: 'ana', evidence: undefined };

/** The steps; build them once and run the same objects on both paths (evidence ids are random). */
export function commandScenario(): ScenarioStep[] {
  const first = rollback('feat', 'treatment', { commandId: 'c1' });
  const r1 = rampStep('r1', 'advance', 'on', rampTarget(2, 12.5));
  return [
    { cmd: first },
    { cmd: first },
    { cmd: rollback('feat', 'treatment', { commandId: 'c2', evidence: undefined }) },
    { cmd: restore('feat', 'treatment', { commandId: 'c3' }) },
    { cmd: rollback('feat', 'fresh', { commandId: 'c4' }) },
    // An active pin holds an automatic command; at expiry the next command releases it first.
    pin('p1', 'feat', 'control', 'on', '01:00'),
    { cmd: rollback('feat', 'control', { commandId: 'c5' }) },
    { cmd: r1 },
    { cmd: r1 },
    { cmd: rampStep('r2', 'advance', 'on', rampTarget(2, 12.5)) },
    { cmd: rampStep('r3', 'advance', 'on', rampTarget(2, 10), { cohort: 'beta' }) },
    { cmd: rampStep('r4', 'advance', 'on', rampTarget(2, 10)) },
    { cmd: rampStep('r5', 'pause', 'on', rampTarget(2, 12.5, 'paused'), manual) },
    { cmd: rampStep('r6', 'resume', 'on', rampTarget(2, 12.5), manual) },
    { cmd: rampStep('r7', 'advance', 'on', rampTarget(3, 33.333)) },
    { cmd: rampStep('r8', 'start', 'on', rampTarget(1, 1), { cohort: 'gamma' }) },
    { advanceClock: true }, // 02:00
    { cmd: rollback('feat', 'control', { commandId: 'c6' }) },
    { cmd: restore('feat', 'control', { commandId: 'c7' }) },
    // A pinned cohort in a rollout: steps held or refused, an agreeing restore clears the hold.
    pin('p2', 'ramp', 'treatment', 'on', '03:00'),
    { cmd: rampStep('r9', 'advance', 'on', rampTarget(4, 100, 'complete')) },
    { cmd: rampStep('r10', 'abort', 'off', rampTarget(0, 0, 'aborted'), manual) },
    { cmd: rollback('ramp', 'treatment', { commandId: 'r11', ...manual }) },
    { cmd: restore('ramp', 'treatment', { commandId: 'r12', source: 'verdict' }) },
    { cmd: rampStep('r13', 'advance', 'on', rampTarget(4, 100, 'complete')) },
    { advanceClock: true }, // 04:00: r13 is released by r14, which then applies too
    { cmd: rampStep('r14', 'hold', 'on', rampTarget(3, 33.333, 'holding')) },
    // Held steps that change nothing when released: a cut-back, and the ramp already in force.
    pin('p3', 'ramp', 'treatment', 'on', '05:00'),
    { cmd: rampStep('r15', 'advance', 'on', rampTarget(2, 10)) },
    { advanceClock: true }, // 06:00
    { cmd: rollback('ramp', 'treatment', { commandId: 'r16' }) },
    pin('p4', 'ramp', 'treatment', 'off', '07:00'),
    { cmd: rampStep('r17', 'advance', 'on', rampTarget(3, 33.333, 'holding')) },
    { cmd: rampStep('r18', 'abort', 'off', rampTarget(3, 33.33, 'holding')) }, // replaces r17 as the held step
    { advanceClock: true }, // 08:00
    { cmd: rampStep('r19', 'resume', 'on', rampTarget(3, 33.333), manual) },
    // Expired pins that held nothing: one command applies, one changes nothing.
    pin('p5', 'feat', 'control', 'on', '09:00'),
    pin('p6', 'feat', 'fresh', 'off', '09:00'),
    { advanceClock: true }, // 10:00
    { cmd: rollback('feat', 'control', { commandId: 'c8' }) },
    { cmd: rollback('feat', 'fresh', { commandId: 'c9' }) },
  ];
}

/** Registers the scenario's flags, runs its steps, and returns every command's result. */
export async function runScenario(repo: FlagRepository, clock: ManualClock, steps: readonly ScenarioStep[]): Promise<ApplyResult[]> {
  await repo.ensureGuarded('feat', ['treatment', 'control']);
  await repo.ensureGuarded('ramp', ['treatment'], 'registered at stage 1', { percent: 1, stages: 4, salt: 's1', control: 'control' });
  await repo.ensureGuarded('ramp', ['beta']);
  const results: ApplyResult[] = [];
  for (const step of steps) {
    if ('cmd' in step) results.push(await repo.applyCommand(step.cmd));
    else if ('pin' in step) await repo.pin(step.pin);
    else clock.advance(PAST_PINS_MS);
  }
  return results;
}

/** Every row a command can write, in a stable order (updated_at and created_at left out: they are now()). */
export async function rowsOf(s: MigratedStore) {
  const q = async (text: string) => (await s.sql.query(text.replaceAll('$s', `"${s.schema}"`))).rows.map((r) => normalise(r));
  return {
    flags: await q(
      'SELECT feature, cohort, state, version, reason, pinned_state, pinned_until, pinned_by, pin_reason, held_command, allocation, rollout FROM $s.flags ORDER BY feature, cohort',
    ),
    versions: await q('SELECT feature, version FROM $s.feature_versions ORDER BY feature'),
    audit: await q(
      'SELECT command_id, feature, cohort, action, from_state, to_state, version, source, actor, reason, evidence, outcome, from_allocation, to_allocation FROM $s.audit_log ORDER BY id',
    ),
    applied: await q('SELECT command_id, result FROM $s.applied_commands ORDER BY command_id'),
    outbox: await q('SELECT feature, version, payload FROM $s.outbox ORDER BY id'),
  };
}

// numeric and bigint columns come back as strings from node-postgres and as numbers from PGlite.
function normalise(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]));
}
