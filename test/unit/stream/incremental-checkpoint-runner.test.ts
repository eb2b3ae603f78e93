// The stateful runner with an incremental processor (the aggregator): checkpoints taken while
// records keep being applied, over restarts, restore to exactly the state of an uninterrupted run.

import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/core/logger.js';
import { PartitionAggregator } from '../../../src/aggregation/partition-aggregator.js';
import { decodeEventRecord } from '../../../src/events/event-record-codec.js';
import { encodeEventRecord } from '../../../src/events/event-record-writer.js';
import type { FeatureEvent } from '../../../src/events/feature-event.js';
import { topicNames } from '../../../src/events/topics.js';
import { EmbeddedLog } from '../../../src/log/embedded/embedded-log.js';
import { aggregatorProcessorFactory, type AggregatorProcessor } from '../../../src/stream/aggregator-processor.js';
import { InMemoryCheckpointStore } from '../../../src/stream/checkpoint-store.js';
import { StatefulRunner } from '../../../src/stream/stateful-runner.js';
import { ruleSet } from '../aggregation/rules-fixture.js';
import { waitFor } from '../../helpers/services.js';

const RULES = ruleSet([{ featureId: 'f1', activation: { action: { spanName: 'act' }, windowSeconds: 600 }, retention: { returnAfterSeconds: 60, windowSeconds: 900 } }]);
const OPTIONS = { rules: RULES, allowedLatenessMs: 60_000, maxLatenessMs: 1_800_000, lateGraceMs: 120_000, maxRetiredUsers: 400 };

function event(i: number): FeatureEvent {
  const u = (i * 7919) % 700;
  return {
    user: u.toString(16).padStart(32, '0'),
    time: 1_700_000_000_000 + i * 900 - (i % 7) * 1000,
    id: `e${i}`,
    name: i % 3 === 0 ? 'act' : 'page',
    flags: i % 2 === 0 ? [{ feature: 'f1', variant: i % 4 === 0 ? 'on' : 'off' }] : [],
    source: 'span',
  };
}

describe('stateful runner with incremental checkpoints', () => {
  it('restores exactly what an uninterrupted run holds, across restarts', async () => {
    const topics = topicNames('t.');
    const log = new EmbeddedLog({ logger: silentLogger, maxBatchSize: 50 });
    await log.ensureTopics([{ name: topics.events, partitions: 1 }, { name: topics.cohortStats, partitions: 1 }]);
    const producer = log.producer('p');
    await producer.start();
    const store = new InMemoryCheckpointStore();
    const errors: string[] = [];
    const factory = aggregatorProcessorFactory(topics, 60_000, () => OPTIONS);
    const runner = () =>
      new StatefulRunner({ name: 'aggregator', log, producer, store, factory, groupId: 'g', inputTopic: topics.events, checkpointIntervalMs: 5, clock: systemClock, onError: (err, ctx) => errors.push(`${ctx}: ${String(err)}`) });
    const sent: Buffer[] = [];
    const send = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const e = event(i);
        const value = encodeEventRecord([e]);
        sent.push(value);
        await producer.send(topics.events, [{ key: e.user, value }]);
      }
    };
    const caughtUp = async () => {
      for (const p of [0]) if ((await store.loadOffset('aggregator', topics.events, p)) !== String(sent.length)) return false;
      return true;
    };
    for (const [from, to] of [[0, 1500], [1500, 3000], [3000, 4000]]) {
      const r = runner();
      await r.start();
      await send(from, to);
      await waitFor(caughtUp, { timeoutMs: 30_000, message: 'checkpoints caught up' });
      await r.stop();
    }
    for (const p of [0]) {
      const cp = await store.load('aggregator', topics.events, p);
      const restored = ((await factory.restore(p, cp!.state, cp!.parts!)) as AggregatorProcessor).aggregator;
      const whole = new PartitionAggregator({ ...OPTIONS, partition: p });
      sent.forEach((value, i) => whole.applyRecord(decodeEventRecord(value), String(i)));
      expect(restored.serialize().equals(whole.serialize()), `partition ${p}`).toBe(true);
      expect(cp!.parts!.length).toBeGreaterThan(2);
    }
    expect(errors).toEqual([]);
    await log.close();
  });
});
