// Kafka outages: an unreachable broker must turn into a quick, retryable ERR_LOG_UNAVAILABLE (the
// receiver answers UNAVAILABLE with it), and producer and consumer must recover by themselves when
// the broker returns. The outage test runs its own single broker (scripts/stack.sh with a private
// port and directory), so stopping it disturbs no other test.

import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { KafkaLog, type KafkaLogOptions } from '../../../src/log/kafka/kafka-log.js';
import type { PartitionBatch } from '../../../src/log/partitioned-log.js';
import { silentLogger } from '../../../src/core/logger.js';
import { freePort } from '../../helpers/free-port.js';
import { PrivateKafka } from '../../helpers/private-kafka.js';
import { recordingLogger } from '../../helpers/recording-logger.js';
import { waitFor } from '../../helpers/services.js';

const logs: KafkaLog[] = [];

function openLog(brokers: string[], extra: Partial<KafkaLogOptions> = {}): KafkaLog {
  const log = new KafkaLog({ brokers, clientId: 'pmf-log-availability', logLevel: 'nothing', logger: silentLogger, ...extra });
  logs.push(log);
  return log;
}

afterEach(async () => {
  for (const log of logs.splice(0)) await log.close();
});

async function expectUnavailable(work: Promise<unknown>): Promise<PmfError> {
  const error = await work.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PmfError);
  expect(error, (error as Error).message).toMatchObject({ code: 'ERR_LOG_UNAVAILABLE', retryable: true });
  return error as PmfError;
}

describe('kafka log: unreachable broker', () => {
  // The test timeout is the bound: each call must give up well within it.
  it('send, ping and ensureTopics reject with a retryable ERR_LOG_UNAVAILABLE', { timeout: 20_000 }, async () => {
    const log = openLog([`127.0.0.1:${await freePort()}`]);
    const producer = log.producer('unreachable');
    await producer.start(); // does not fail: sends retry the connection

    const started = Date.now();
    const error = await expectUnavailable(producer.send('pmf.events.v1', [{ key: 'k', value: Buffer.from('v') }]));
    console.info(`[measure] send to a closed port rejected after ${Date.now() - started} ms: ${error.message}`);

    await expectUnavailable(log.ping());
    await expectUnavailable(log.ensureTopics([{ name: 'pmf.events.v1', partitions: 1 }]));
  });
});

describe('kafka log: broker outage and return', () => {
  const broker = new PrivateKafka(27000 + 2 * Math.floor(Math.random() * 1000), { temporaryDir: true });

  afterAll(async () => {
    await broker.remove();
  });

  async function outage(options: {
    log: KafkaLog;
    /** Resolves once the outage has lasted long enough for the scenario. */
    during?: () => Promise<unknown>;
  }): Promise<{ values: () => string[] }> {
    const { log } = options;
    const topic = `outage-${randomUUID().slice(0, 8)}`;
    await log.ensureTopics([{ name: topic, partitions: 2 }]);
    const producer = log.producer('outage');
    await producer.start();
    const received: PartitionBatch[] = [];
    const values = () => received.flatMap((b) => b.records.map((r) => r.value.toString()));
    const consumer = log.consumer(
      { groupId: `outage-${randomUUID().slice(0, 8)}`, topics: [topic], fromBeginning: true },
      {
        async handleBatch(batch) {
          received.push(batch);
          const last = batch.records[batch.records.length - 1];
          await consumer.commit([{ topic, partition: batch.partition, offset: String(Number(last.offset) + 1) }]);
        },
      },
    );
    await consumer.start();

    // A topic made a moment ago on a broker that has just started may not have its leader yet
    // (NOT_LEADER_FOR_PARTITION, retryable): only a retryable refusal is tried again, and a
    // refused send wrote nothing, so 'before' is still in the log once.
    await waitFor(
      async () => {
        try {
          await producer.send(topic, [{ key: 'a', value: Buffer.from('before') }]);
          return true;
        } catch (err) {
          if (err instanceof PmfError && err.retryable) return false;
          throw err;
        }
      },
      { message: 'the record sent before the outage accepted', intervalMs: 250 },
    );
    await waitFor(() => values().includes('before'), { message: 'the record sent before the outage' });

    await broker.stop();
    const started = Date.now();
    await expectUnavailable(producer.send(topic, [{ key: 'a', value: Buffer.from('during') }]));
    console.info(`[measure] send during the outage rejected after ${Date.now() - started} ms`);
    await expectUnavailable(log.ping());
    await options.during?.();

    await broker.start();
    const back = Date.now();
    // The same producer object must work again; a send right after the restart may still race
    // the broker's own start-up, so try until one is acknowledged.
    let attempts = 0;
    // A retryable refusal means "try again"; anything else ends the wait and fails the test below.
    const outcome = await waitFor(
      async () => {
        attempts++;
        return producer.send(topic, [{ key: 'a', value: Buffer.from('after') }]).then(
          () => 'acknowledged',
          (e: unknown) => (e instanceof PmfError && e.retryable ? undefined : e),
        );
      },
      { message: 'a send acknowledged after the broker returned', timeoutMs: 60_000 },
    );
    expect(outcome).toBe('acknowledged');
    console.info(`[measure] first acknowledged send ${Date.now() - back} ms after restart, ${attempts} attempt(s)`);
    await log.ping();
    await waitFor(() => values().includes('after'), {
      message: 'the consumer to receive a record sent after the outage',
      timeoutMs: 90_000,
      describe: values,
    });
    console.info(`[measure] consumer delivered the post-outage record ${Date.now() - back} ms after restart`);
    return { values };
  }

  it('producer and consumer recover by themselves when the broker comes back', { timeout: 180_000 }, async () => {
    await broker.start();
    const { values } = await outage({ log: openLog([...broker.brokers], { sendTimeoutMs: 3000 }) });
    // 'during' may or may not have reached the log (an unacknowledged send can still land), and
    // 'after' may have landed more than once for the same reason; 'before' was committed.
    expect(values().filter((v) => v === 'before')).toHaveLength(1);
  });

  it('a consumer that crashed during a long outage restarts and resumes from its commits', { timeout: 180_000 }, async () => {
    await broker.start();
    const { logger, lines } = recordingLogger();
    const errors = { includes: (m: string) => lines.some((l) => l.level === 'error' && l.msg === m) };
    const log = openLog([...broker.brokers], {
      sendTimeoutMs: 3000,
      // Give up quickly so the outage crashes the consumer; a short session lets the group drop
      // the crashed incarnation soon after the broker is back.
      consumerRetry: { retries: 1, initialRetryTime: 100, maxRetryTime: 200 },
      sessionTimeoutMs: 6000,
      heartbeatIntervalMs: 1000,
      logger,
    });
    const { values } = await outage({
      log,
      during: () => waitFor(() => errors.includes('kafka consumer crash'), { message: 'the consumer crash to be logged', describe: () => lines }),
    });
    expect(lines.filter((l) => l.level === 'error').map((l) => l.msg)).toContain('kafka consumer crashed; restarting it');
    expect(values().filter((v) => v === 'before')).toHaveLength(1);
  });
});
