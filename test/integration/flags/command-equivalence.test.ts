// The one-call command path against the multi-statement one on random sequences (seeded, so a
// failure replays): plain and rollout commands from the verdict stage and from people, replays,
// pins set, ended and expiring at random moments, on PostgreSQL and PGlite. Both paths must give
// the same results (or the same error) and leave the same rows in every table. The hand-written
// scenario of command-round-trips.test.ts names each branch; this one looks for the combinations
// nobody wrote down.

import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import type { FlagCommand, RolloutStatus } from '../../../src/events/flag-command.js';
import { FlagRepository } from '../../../src/flags/flag-repository.js';
import { mulberry32 } from '../../helpers/prng.js';
import { rampTarget, rowsOf, SCENARIO_START } from './command-scenario.js';
import { openMigratedStore, pgDriver, pgliteDriver, sampleVerdict, type MigratedStore } from './flag-store-fixture.js';

type Step =
  | { cmd: FlagCommand }
  | { pin: { commandId: string; feature: string; cohort: string; state: 'on' | 'off'; until: string; actor: string; reason: string } }
  | { unpin: { commandId: string; feature: string; cohort: string; actor: string; reason: string; releaseHeld: boolean } }
  | { advanceMs: number };

const FEATURES = ['fa', 'fb'];
const COHORTS = ['c1', 'c2', 'c3'];
const STATUSES: RolloutStatus[] = ['ramping', 'holding', 'paused', 'complete', 'aborted'];
const ACTIONS: FlagCommand['action'][] = ['advance', 'hold', 'pause', 'resume', 'abort', 'start', 'complete'];
// Few values, so steps often repeat what is in force (no_change) or cut a cohort back.
const PERCENTS = [0, 1, 10, 12.5, 33.333, 50, 100];

function randomSteps(seed: number, count: number): Step[] {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  let now = SCENARIO_START;
  const commands: FlagCommand[] = [];
  return Array.from({ length: count }, (_, i): Step => {
    const r = rand();
    const feature = pick(FEATURES);
    const cohort = pick(COHORTS);
    if (r < 0.08 && commands.length > 0) return { cmd: pick(commands) };
    if (r < 0.16) {
      const until = new Date(now + Math.floor(rand() * 4) * 600_000 + 60_000).toISOString();
      return { pin: { commandId: `p${i}`, feature, cohort, state: pick(['on', 'off'] as const), until, actor: pick(['bob', 'ana']), reason: `pin ${i}` } };
    }
    if (r < 0.2) return { unpin: { commandId: `u${i}`, feature, cohort, actor: 'ana', reason: `unpin ${i}`, releaseHeld: rand() < 0.7 } };
    if (r < 0.3) {
      const ms = Math.floor(rand() * 3) * 600_000;
      now += ms;
      return { advanceMs: ms };
    }
    const automatic = rand() < 0.7;
    const person = automatic ? {} : { source: 'manual' as const, actor: pick(['ana', 'bob']), evidence: undefined };
    const evidence = { ...sampleVerdict(feature, cohort), verdictId: `v${i}` };
    let cmd: FlagCommand;
    if (rand() < 0.45) {
      const state = pick(['on', 'off'] as const);
      cmd = { commandId: `c${i}`, feature, cohort, action: state === 'off' ? 'rollback' : 'restore', state, source: 'verdict', reason: `r${i}`, evidence, issuedAt: '2026-01-02T00:00:00.000Z', ...person };
    } else {
      const stage = Math.floor(rand() * 5);
      const rollout = { ...rampTarget(stage, pick(PERCENTS), pick(STATUSES)), salt: pick(['s1', 's2']) };
      cmd = { commandId: `c${i}`, feature, cohort, action: pick(ACTIONS), state: rand() < 0.8 ? 'on' : 'off', source: 'verdict', reason: `r${i}`, evidence, issuedAt: '2026-01-02T00:00:00.000Z', rollout, ...person };
    }
    commands.push(cmd);
    return { cmd };
  });
}

async function run(s: MigratedStore, steps: readonly Step[], commandsInOneCall: boolean) {
  const clock = new ManualClock(SCENARIO_START);
  const repo = new FlagRepository(s.sql, s.schema, { clock, commandsInOneCall });
  await repo.ensureGuarded('fa', ['c1', 'c2']);
  await repo.ensureGuarded('fb', ['c1'], undefined, { percent: 10, stages: 4, salt: 's1', control: 'control' });
  const outcomes: unknown[] = [];
  for (const step of steps) {
    if ('advanceMs' in step) {
      clock.advance(step.advanceMs);
      continue;
    }
    try {
      if ('cmd' in step) outcomes.push(await repo.applyCommand(step.cmd));
      else if ('pin' in step) outcomes.push(await repo.pin(step.pin));
      else outcomes.push(await repo.unpin(step.unpin));
    } catch (err) {
      outcomes.push({ error: (err as Error).message });
    }
  }
  return { outcomes, rows: await rowsOf(s) };
}

const drivers = [pgDriver, pgliteDriver()];
afterAll(async () => {
  for (const d of drivers) await d.dispose?.();
});

describe.each(drivers)('one-call commands against the multi-statement path on $name', (driver) => {
  it.each([1, 2, 3])('random sequence, seed %i: same results and rows', async (seed) => {
    const steps = randomSteps(seed, 160);
    const a = await openMigratedStore(driver);
    const b = await openMigratedStore(driver);
    try {
      const oneCall = await run(a, steps, true);
      const general = await run(b, steps, false);
      expect(oneCall).toEqual(general);
      // The sequence reached what it is for: pins in force, held and released commands, ramps.
      const outcomes = new Set(oneCall.rows.audit.map((e) => `${String(e.action)}:${String(e.outcome)}`));
      for (const seen of ['pin:applied', 'pin_expired:applied', 'advance:skipped_pinned', 'rollback:skipped_pinned']) expect(outcomes).toContain(seen);
      expect(oneCall.rows.audit.some((e) => String(e.reason).startsWith('released when the pin ended'))).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
