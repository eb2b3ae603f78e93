// Embedded-log behaviour beyond the shared contract (test/integration/log/log-contract.ts):
// backoff timing through the injected clock, onAssignment retries, eager rebalances that wait
// for the in-flight batch, and the errors callers get for misuse.

import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { EmbeddedLog } from '../../../src/log/embedded/embedded-log.js';
import type { GroupConsumer, PartitionBatch, TopicPartition } from '../../../src/log/partitioned-log.js';
import { silentLogger } from '../../../src/core/logger.js';

const logs: EmbeddedLog[] = [];

function openLog(clock = new ManualClock(1_000)): EmbeddedLog {
  const log = new EmbeddedLog({ clock, logger: silentLogger, maxBatchSize: 10, retryBackoff: { initialMs: 100, maxMs: 1000 } });
  logs.push(log);
  return log;
}

afterEach(async () => {
  for (const log of logs.splice(0)) await log.close();
});

/** Lets every pending promise and immediate of the in-memory log run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function seeded(log: EmbeddedLog, partitions: number, count: number): Promise<void> {
  await log.ensureTopics([{ name: 't', partitions }]);
  const producer = log.producer('p');
  await producer.start();
  await producer.send('t', Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: Buffer.from(`v${i}`) })));
}

describe('EmbeddedLog', () => {
  it('re-delivers a failed batch only after the backoff has elapsed on the injected clock', async () => {
    const clock = new ManualClock(1_000);
    const log = openLog(clock);
    await seeded(log, 1, 3);
    const deliveries: number[] = [];
    let failuresLeft = 2;
    const consumer = log.consumer(
      { groupId: 'g', topics: ['t'], fromBeginning: true },
      {
        async handleBatch(batch) {
          deliveries.push(batch.records.length);
          if (failuresLeft-- > 0) throw new Error('not yet');
        },
      },
    );
    await consumer.start();
    await settle();
    expect(deliveries).toEqual([3]);

    clock.advance(99);
    await settle();
    expect(deliveries).toEqual([3]);
    clock.advance(1); // first backoff: 100 ms
    await settle();
    expect(deliveries).toEqual([3, 3]);

    clock.advance(199);
    await settle();
    expect(deliveries).toEqual([3, 3]);
    clock.advance(1); // second backoff: 200 ms
    await settle();
    expect(deliveries).toEqual([3, 3, 3]);
  });

  it('retries a failing onAssignment before delivering any batch', async () => {
    const clock = new ManualClock(1_000);
    const log = openLog(clock);
    await seeded(log, 1, 2);
    const events: string[] = [];
    let failOnce = true;
    const consumer = log.consumer(
      { groupId: 'g', topics: ['t'], fromBeginning: true },
      {
        async onAssignment(owned) {
          events.push(`assign ${owned.length}`);
          if (failOnce) {
            failOnce = false;
            throw new Error('state not loaded');
          }
        },
        async handleBatch(batch) {
          events.push(`batch ${batch.records.length}`);
        },
      },
    );
    await consumer.start();
    await settle();
    expect(events).toEqual(['assign 1']);
    clock.advance(100);
    await settle();
    expect(events).toEqual(['assign 1', 'assign 1', 'batch 2']);
  });

  it('a joining member waits until the current owner finished its in-flight batch', async () => {
    const log = openLog();
    await seeded(log, 2, 20);
    const events: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let blocked = false;
    const owner = log.consumer(
      { groupId: 'g', topics: ['t'], fromBeginning: true },
      {
        async handleBatch(batch) {
          if (!blocked) {
            blocked = true;
            events.push(`owner batch p${batch.partition} started`);
            await gate;
            events.push(`owner batch p${batch.partition} finished`);
          }
        },
      },
    );
    await owner.start();
    await settle();

    const assignments: TopicPartition[][] = [];
    const joiner = log.consumer(
      { groupId: 'g', topics: ['t'], fromBeginning: true },
      { async onAssignment(owned) { assignments.push(owned); }, async handleBatch() {} },
    );
    const joined = joiner.start().then(() => events.push('joiner joined'));
    await settle();
    expect(events).toEqual(['owner batch p0 started']);
    release();
    await joined;
    expect(events).toEqual(['owner batch p0 started', 'owner batch p0 finished', 'joiner joined']);
    await settle();
    expect(assignments).toEqual([[{ topic: 't', partition: 1 }]]);
  });

  it('rejects commits for partitions the member does not own, and malformed offsets', async () => {
    const log = openLog();
    await seeded(log, 2, 0);
    const members: GroupConsumer[] = [];
    for (let i = 0; i < 2; i++) {
      const c = log.consumer({ groupId: 'g', topics: ['t'], fromBeginning: true }, { async handleBatch() {} });
      await c.start();
      members.push(c);
    }
    await settle();
    // Range assignment in join order: the first member owns partition 0, the second partition 1.
    await members[0].commit([{ topic: 't', partition: 0, offset: '0' }]);
    await expect(members[0].commit([{ topic: 't', partition: 1, offset: '0' }])).rejects.toMatchObject({
      code: 'ERR_LOG_UNAVAILABLE',
      retryable: false,
    });
    await expect(members[0].commit([{ topic: 't', partition: 0, offset: '-1' }])).rejects.toMatchObject({
      code: 'ERR_INTERNAL',
    });
  });

  it('names the problem for unknown topics and illegal topic specs', async () => {
    const log = openLog();
    const producer = log.producer('p');
    await producer.start();
    await expect(producer.send('missing', [{ key: 'k', value: Buffer.from('v') }])).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
    });
    const consumer = log.consumer({ groupId: 'g', topics: ['missing'], fromBeginning: true }, { async handleBatch() {} });
    await expect(consumer.start()).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(log.ensureTopics([{ name: 'bad/name', partitions: 1 }])).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    await expect(log.ensureTopics([{ name: 'ok', partitions: 0 }])).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    const batches: PartitionBatch[] = [];
    await expect(async () => {
      for await (const b of log.readAll('missing')) batches.push(b);
    }).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
  });

  it('close() stops what is running and refuses new work', async () => {
    const log = openLog();
    await seeded(log, 1, 1);
    const consumer = log.consumer({ groupId: 'g', topics: ['t'], fromBeginning: true }, { async handleBatch() {} });
    await consumer.start();
    await log.close();
    await log.close();
    await expect(consumer.commit([{ topic: 't', partition: 0, offset: '1' }])).rejects.toMatchObject({ code: 'ERR_STOPPED' });
    await expect(log.ping()).rejects.toMatchObject({ code: 'ERR_STOPPED' });
    expect(() => log.producer('late')).toThrow(expect.objectContaining({ code: 'ERR_STOPPED' }));
  });
});
