// The cohort registrar registers each guarded cohort it sees in a verdict once, and does not
// decode a verdict whose feature's rule names its guarded cohorts and has them all registered
// (the topic carries hundreds of heartbeats per step). A captured batch handler stands in for the log.

import { describe, expect, it } from 'vitest';
import { GuardedCohortRegistrar } from '../../../src/app/guarded-cohort-registrar.js';
import type { BatchHandler, PartitionBatch, PartitionedLog } from '../../../src/log/partitioned-log.js';
import { parseRules } from '../../../src/rules/load.js';
import { verdict } from '../../helpers/verdict-fixture.js';

const rules = parseRules(JSON.stringify({
  version: 'r1',
  rules: [
    { featureId: 'named', activationThreshold: 0.15, retentionThreshold: 0.4, latencyP95Threshold: 200, minCohortSize: 100, evaluationWindowSeconds: 3600, cohorts: { control: 'control', guarded: ['treatment'] } },
    { featureId: 'open', activationThreshold: 0.15, retentionThreshold: 0.4, latencyP95Threshold: 200, minCohortSize: 100, evaluationWindowSeconds: 3600, cohorts: { control: 'control' } },
  ],
}));

function batchOf(records: { key: string; value: Buffer }[]): PartitionBatch {
  return { topic: 'verdicts', partition: 0, records: records.map((r, i) => ({ partition: 0, offset: String(i), key: r.key, value: r.value, timestamp: 0 })) };
}

const json = (feature: string, cohort: string) => Buffer.from(JSON.stringify(verdict({ id: `${feature}-${cohort}`, at: 0, feature, cohort })));

async function started() {
  let handler!: BatchHandler;
  const log = { consumer: (_o: unknown, h: BatchHandler) => ((handler = h), { start: async () => {}, stop: async () => {}, commit: async () => {} }) } as unknown as PartitionedLog;
  const registered: string[] = [];
  const errors: string[] = [];
  const registrar = new GuardedCohortRegistrar({
    log, groupId: 'g', topic: 'verdicts', rules: () => rules,
    ensureGuarded: async (feature, cohorts) => registered.push(`${feature}: ${cohorts.join(' ')}`),
    onError: (_err, context) => errors.push(context),
  });
  await registrar.start();
  return { handle: (b: PartitionBatch) => handler.handleBatch(b, async () => {}), registered, errors };
}

describe('guarded cohort registrar', () => {
  it('registers each guarded cohort once, the control never', async () => {
    const r = await started();
    await r.handle(batchOf([
      { key: 'named', value: json('named', 'control') },
      { key: 'named', value: json('named', 'treatment') },
      { key: 'open', value: json('open', 'b') },
      { key: 'open', value: json('open', 'control') },
    ]));
    await r.handle(batchOf([{ key: 'named', value: json('named', 'treatment') }, { key: 'open', value: json('open', 'b') }, { key: 'open', value: json('open', 'c') }]));
    expect(r.registered).toEqual(['named: treatment', 'open: b', 'open: c']);
    expect(r.errors).toEqual([]);
  });

  it('decodes nothing of a feature whose named guarded cohorts are all registered, and still decodes the others', async () => {
    const r = await started();
    await r.handle(batchOf([{ key: 'named', value: json('named', 'treatment') }]));
    // Not JSON: only a decode would notice.
    await r.handle(batchOf([{ key: 'named', value: Buffer.from('not json') }, { key: 'open', value: Buffer.from('not json') }]));
    expect(r.registered).toEqual(['named: treatment']);
    expect(r.errors).toEqual(['verdict at verdicts/0@1 skipped by the cohort registrar']);
  });
});
