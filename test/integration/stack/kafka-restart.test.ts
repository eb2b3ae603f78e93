// Fault tests restart the broker with `scripts/stack.sh restart kafka`: the restart must keep topics,
// records and committed offsets, and clients must be able to carry on against the same address.
// This test restarts a private broker of its own (same script, same KAFKA_VERSION, another port) so it
// never pulls the shared broker away from tests running at the same time in the same tree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import type { Admin, Kafka } from 'kafkajs';
import { PrivateKafka } from '../../helpers/private-kafka.js';
import { uniqueName, waitFor } from '../../helpers/services.js';

const broker = new PrivateKafka(Number(process.env.PMF_TEST_KAFKA_RESTART_PORT ?? '9392'));
const { Kafka: KafkaClient, logLevel, Partitioners } = kafkajs;

describe('scripts/stack.sh restart kafka', () => {
  let kafka: Kafka;
  let admin: Admin;
  const topic = uniqueName('stack_restart');
  const groupId = uniqueName('stack_restart_group');

  beforeAll(async () => {
    await broker.stack('up');
    kafka = new KafkaClient({
      clientId: uniqueName('stack_restart'),
      brokers: [...broker.brokers],
      logLevel: logLevel.NOTHING,
      retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 2_000 },
    });
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await admin.deleteTopics({ topics: [topic], timeout: 30_000 });
    await admin.disconnect();
    await broker.stop();
  });

  it('keeps topics, records and committed offsets across a broker restart', async () => {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ value: 'before-1' }, { value: 'before-2' }] });
    await producer.disconnect();
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '1' }] });
    await admin.disconnect();

    const stderr = await broker.stack('restart');
    expect(stderr).toMatch(/kafka: stopping pid \d+/);
    expect(stderr).toMatch(/kafka: ready on/);

    await admin.connect();
    expect(await admin.listTopics()).toContain(topic);
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets).toEqual([expect.objectContaining({ partition: 0, low: '0', high: '2' })]);
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(committed[0]?.partitions).toEqual([expect.objectContaining({ partition: 0, offset: '1' })]);

    // The group resumes at the committed offset on the restarted broker.
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 250 });
    const seen: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [topic] });
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value?.toString() ?? '');
      },
    });
    await waitFor(() => seen.length >= 1, { timeoutMs: 60_000, message: 'consumer resumes after restart' });
    await consumer.disconnect();
    expect(seen).toEqual(['before-2']);
  });
});
