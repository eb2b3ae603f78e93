// readAll on Kafka: the end offset of every partition is fetched first, then a throwaway consumer
// group (kafkajs has no group-less assign()) reads from the beginning until each partition reached
// its end. The group is deleted afterwards. eachBatch waits until the reader took the previous
// batch, so a slow reader holds at most one batch in memory.

import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { errorMessage } from '../../core/errors.js';
import { fromKafkaError } from './kafka-errors.js';
import type { Logger } from '../../core/logger.js';
import type { PartitionBatch } from '../partitioned-log.js';

export interface KafkaReadAllSettings {
  clientId: string;
  maxBatchSize: number;
  maxWaitTimeMs: number;
  logger: Logger;
}

export async function* readAllFromKafka(
  kafka: Kafka,
  admin: () => Promise<Admin>,
  topic: string,
  settings: KafkaReadAllSettings,
): AsyncGenerator<PartitionBatch> {
  let ends: { partition: number; high: string; low: string }[];
  try {
    ends = await (await admin()).fetchTopicOffsets(topic);
  } catch (err) {
    throw fromKafkaError(err, `readAll ${topic}`, 'ERR_LOG_UNAVAILABLE');
  }
  const remaining = new Map(
    ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high)] as const),
  );
  if (remaining.size === 0) return;

  const channel = new Channel<PartitionBatch>();
  const groupId = `${settings.clientId}-read-all-${randomUUID()}`;
  const consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: settings.maxWaitTimeMs,
    retry: { restartOnFailure: async () => false },
  });
  consumer.on(consumer.events.CRASH, (event) =>
    channel.close(fromKafkaError(event.payload.error, `readAll ${topic}`, 'ERR_LOG_UNAVAILABLE')),
  );
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        const end = remaining.get(batch.partition);
        if (end === undefined) return;
        const wanted = batch.messages.filter((m) => BigInt(m.offset) < end);
        for (let i = 0; i < wanted.length && !channel.closed; i += settings.maxBatchSize) {
          const chunk = wanted.slice(i, i + settings.maxBatchSize);
          await channel.push({
            topic,
            partition: batch.partition,
            records: chunk.map((m) => ({
              partition: batch.partition,
              offset: m.offset,
              key: m.key === null || m.key === undefined ? null : m.key.toString('utf8'),
              value: m.value ?? Buffer.alloc(0),
              timestamp: Number(m.timestamp),
            })),
          });
        }
        if (batch.messages.length > 0) resolveOffset(batch.lastOffset());
        // lastOffset() also covers trailing control records, which are never delivered.
        if (BigInt(batch.lastOffset()) + 1n >= end) {
          remaining.delete(batch.partition);
          if (remaining.size === 0) channel.close();
        }
      },
    });
    yield* channel;
  } catch (err) {
    throw fromKafkaError(err, `readAll ${topic}`, 'ERR_LOG_UNAVAILABLE');
  } finally {
    channel.close();
    await consumer.disconnect().catch((err: unknown) =>
      settings.logger.warn('readAll: consumer disconnect failed', { topic, error: errorMessage(err) }),
    );
    await admin()
      .then((a) => a.deleteGroups([groupId]))
      .catch((err: unknown) =>
        settings.logger.warn('readAll: could not delete its throwaway consumer group', { groupId, error: errorMessage(err) }),
      );
  }
}

/** A one-slot hand-off between kafkajs' eachBatch and the async iterator. */
class Channel<T> implements AsyncIterable<T> {
  closed = false;
  private error: unknown;
  private item?: { value: T; taken: () => void };
  private waiter?: () => void;

  push(value: T): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((taken) => {
      this.item = { value, taken };
      this.waiter?.();
    });
  }

  close(error?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.error = error;
    // Release a pending push, or kafkajs' stop() would wait forever for that eachBatch.
    this.item?.taken();
    this.waiter?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.item !== undefined) {
        const { value, taken } = this.item;
        this.item = undefined;
        taken();
        yield value;
        continue;
      }
      if (this.closed) {
        if (this.error !== undefined) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => {
        this.waiter = () => {
          this.waiter = undefined;
          resolve();
        };
      });
    }
  }
}
