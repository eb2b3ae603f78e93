// The order in which the verdict stage hands its outputs to the runner, which sends them one after
// the other: a rollback command follows its own feature's verdicts (its evidence) and nothing
// else, so other features' heartbeats of the same step never delay it.

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { commandKeyRing } from '../../../src/events/command-signature.js';
import type { FlagCommand } from '../../../src/events/flag-command.js';
import { topicNames } from '../../../src/events/topics.js';
import type { Verdict } from '../../../src/events/verdict.js';
import { VerdictProcessor } from '../../../src/stream/verdict-processor.js';
import type { EngineOutput, VerdictEngine } from '../../../src/verdict/verdict-engine.js';

const TOPICS = topicNames('t.');

const verdict = (feature: string, cohort: string) => ({ feature, cohort }) as unknown as Verdict;
const command = (feature: string): FlagCommand => ({
  commandId: `c-${feature}`, feature, cohort: 'treatment', action: 'rollback', state: 'off', source: 'verdict', reason: 'p95', issuedAt: '2026-12-01T00:00:00Z',
});

/** An engine that answers each steering request with the next canned output. */
function processorWith(outputs: EngineOutput[]): VerdictProcessor {
  const engine = { steer: () => outputs.shift()!, releaseStartup: () => ({ verdicts: [], commands: [] }) } as unknown as VerdictEngine;
  return new VerdictProcessor(engine, TOPICS, commandKeyRing(['k'.repeat(32)]), new ManualClock(0), 3600_000);
}

function steerRecord(n: number) {
  const value = Buffer.from(JSON.stringify({ kind: 'rollout-steer', steerId: `s${n}`, feature: 'x', cohort: 'treatment', action: 'pause', actor: 'a', reason: '', requestedAt: '2026-12-01T00:00:00Z' }));
  return { partition: 0, offset: String(n), key: 'x', value, timestamp: 0 };
}

function shape(proc: VerdictProcessor): string[] {
  return proc.takeOutputs().filter((o) => o.records.length > 0).map((o) => `${o.topic === TOPICS.commands ? 'commands' : 'verdicts'}: ${o.records.map((r) => r.key).join(' ')}`);
}

describe('verdict stage output order', () => {
  it('sends a command right after its own feature\'s verdicts, before other features\' heartbeats', () => {
    const proc = processorWith([
      { verdicts: [verdict('a', 'control'), verdict('b', 'control'), verdict('f', 'control')], commands: [] },
      { verdicts: [verdict('c', 'control'), verdict('f', 'treatment'), verdict('d', 'control')], commands: [command('f')] },
    ]);
    proc.apply(steerRecord(0));
    proc.apply(steerRecord(1));
    expect(shape(proc)).toEqual(['verdicts: f f', 'commands: f', 'verdicts: a b c d']);
  });

  it('marks the evidence and the command urgent, the heartbeats not', () => {
    const proc = processorWith([{ verdicts: [verdict('a', 'control'), verdict('f', 'treatment')], commands: [command('f')] }]);
    proc.apply(steerRecord(0));
    const outs = proc.takeOutputs().filter((o) => o.records.length > 0);
    expect(outs.map((o) => `${o.topic === TOPICS.commands ? 'commands' : 'verdicts'} ${o.records.map((r) => r.key).join(' ')} ${o.urgent === true ? 'urgent' : 'bulk'}`)).toEqual([
      'verdicts f urgent',
      'commands f urgent',
      'verdicts a bulk',
    ]);
  });

  it('keeps the engine\'s order when no command is due', () => {
    const proc = processorWith([{ verdicts: [verdict('b', 'control'), verdict('a', 'control'), verdict('b', 'treatment')], commands: [] }]);
    proc.apply(steerRecord(0));
    expect(shape(proc)).toEqual(['verdicts: b a b']);
  });
});
