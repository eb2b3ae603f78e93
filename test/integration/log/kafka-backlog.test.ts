// A Kafka batch says whether it came from a backlog (the fetch stopped at its size limit with
// more records in the log) or from the live tail: the aggregator lets step snapshots wait for the
// publish interval only while it is catching up (src/stream/aggregator-processor.ts).

import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/core/logger.js';
import { KafkaLog } from '../../../src/log/kafka/kafka-log.js';
import type { PartitionBatch } from '../../../src/log/partitioned-log.js';
import { waitFor } from '../../helpers/services.js';

const brokers = (process.env.PMF_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

describe('kafka log: catching up', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('marks the batches of a fetch cut short by the backlog as catching up, and the one that reaches the end as not', async () => {
    const log = new KafkaLog({ brokers, clientId: 'pmf-backlog', logLevel: 'nothing', logger: silentLogger });
    cleanups.push(() => log.close());
    const topic = `backlog-${randomUUID().slice(0, 8)}`;
    await log.ensureTopics([{ name: topic, partitions: 1 }]);
    const producer = log.producer('backlog');
    await producer.start();
    cleanups.push(() => producer.stop());
    // 4 MB in records of 64 KB, several times what one fetch takes from a partition (1 MiB).
    const count = 64;
    for (let i = 0; i < count; i += 8) {
      await producer.send(topic, Array.from({ length: 8 }, (_, k) => ({ key: 'k', value: Buffer.alloc(64 * 1024, i + k) })));
    }
    const batches: PartitionBatch[] = [];
    const consumer = log.consumer({ groupId: `backlog-${randomUUID().slice(0, 8)}`, topics: [topic], fromBeginning: true }, {
      async handleBatch(batch) {
        batches.push(batch);
      },
    });
    await consumer.start();
    cleanups.push(() => consumer.stop());
    await waitFor(async () => (batches.reduce((n, b) => n + b.records.length, 0) === count ? true : undefined), { message: 'every record consumed' });
    expect(batches[0].catchingUp).toBe(true);
    expect(batches.at(-1)?.catchingUp).toBe(false);
  });
});
