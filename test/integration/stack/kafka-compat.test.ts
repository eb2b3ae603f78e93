// kafkajs 2.2.4 against the broker scripts/stack.sh runs (KAFKA_VERSION, default 3.9.1): every
// protocol path pmf-guard relies on — topic admin, keyed produce, group consume, offset commit and
// fetch, idempotent and transactional produce, read_committed — must work, or the pin is wrong.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import type { Admin, Consumer, EachMessagePayload, Kafka, Producer } from 'kafkajs';
import { testServices, uniqueName, waitFor } from '../../helpers/services.js';

const { Kafka: KafkaClient, logLevel, Partitioners } = kafkajs;

interface Seen {
  readonly partition: number;
  readonly offset: string;
  readonly key: string;
  readonly value: string;
  readonly header: string | undefined;
}

describe('kafkajs against the stack broker', () => {
  let kafka: Kafka;
  let admin: Admin;
  const topics: string[] = [];
  const clients: Array<Producer | Consumer> = [];

  beforeAll(async () => {
    kafka = new KafkaClient({
      clientId: uniqueName('kafka_compat'),
      brokers: [...testServices.kafkaBrokers],
      logLevel: logLevel.NOTHING,
      retry: { retries: 3 },
    });
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    for (const client of clients) await client.disconnect();
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
    await admin.disconnect();
  });

  async function createTopic(prefix: string, numPartitions = 3): Promise<string> {
    const topic = uniqueName(prefix);
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    expect(created).toBe(true);
    topics.push(topic);
    return topic;
  }

  function producer(config: Parameters<Kafka['producer']>[0] = {}): Producer {
    const p = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...config });
    clients.push(p);
    return p;
  }

  function consumer(groupId: string, readUncommitted = false): Consumer {
    const c = kafka.consumer({ groupId, readUncommitted, sessionTimeout: 10_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 250 });
    clients.push(c);
    return c;
  }

  async function consumeAll(c: Consumer, topic: string, expected: number): Promise<Seen[]> {
    const seen: Seen[] = [];
    await c.connect();
    await c.subscribe({ topics: [topic], fromBeginning: true });
    await c.run({
      eachMessage: async ({ partition, message }: EachMessagePayload) => {
        seen.push({
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? '',
          value: message.value?.toString() ?? '',
          header: message.headers?.['x-test']?.toString(),
        });
      },
    });
    await waitFor(() => seen.length >= expected, { timeoutMs: 60_000, message: `${expected} messages from ${topic}` });
    return seen;
  }

  it('creates topics with the requested partitions and lists them; auto-creation is off', async () => {
    const topic = await createTopic('compat_admin', 3);
    expect(await admin.listTopics()).toContain(topic);
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(metadata.topics[0]?.partitions).toHaveLength(3);

    const missing = uniqueName('compat_missing');
    const p = producer({ retry: { retries: 1 } });
    await p.connect();
    await expect(p.send({ topic: missing, messages: [{ value: 'x' }] })).rejects.toThrow();
    expect(await admin.listTopics()).not.toContain(missing);
  });

  it('produces keyed messages with headers and consumes them in per-key order in a group', async () => {
    const topic = await createTopic('compat_produce', 3);
    const p = producer({ idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    const keys = ['cohort-a', 'cohort-b', 'cohort-c', 'cohort-d'];
    const messages = Array.from({ length: 40 }, (_, i) => ({
      key: keys[i % keys.length] as string,
      value: `m${i}`,
      headers: { 'x-test': `h${i}` },
    }));
    await p.send({ topic, acks: -1, messages });

    const seen = await consumeAll(consumer(uniqueName('compat_group')), topic, messages.length);
    expect(seen).toHaveLength(messages.length);
    expect(new Set(seen.map((m) => m.value))).toEqual(new Set(messages.map((m) => m.value)));
    for (const key of keys) {
      const ofKey = seen.filter((m) => m.key === key);
      expect(new Set(ofKey.map((m) => m.partition)).size).toBe(1);
      const expectedOrder = messages.filter((m) => m.key === key).map((m) => m.value);
      expect(ofKey.map((m) => m.value)).toEqual(expectedOrder);
    }
    expect(seen.every((m) => m.header === `h${m.value.slice(1)}`)).toBe(true);
  });

  it('commits offsets that admin can read back and a new consumer of the group resumes after', async () => {
    const topic = await createTopic('compat_commit', 1);
    const groupId = uniqueName('compat_commit_group');
    const p = producer();
    await p.connect();
    await p.send({ topic, messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] });

    const first = consumer(groupId);
    await first.connect();
    await first.subscribe({ topics: [topic], fromBeginning: true });
    const firstSeen: string[] = [];
    await first.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        firstSeen.push(message.value?.toString() ?? '');
      },
    });
    await waitFor(() => firstSeen.length >= 3, { timeoutMs: 60_000, message: 'first consumer reads a, b, c' });
    // Commit after "b" (offset 1): the next offset to read is 2.
    await first.commitOffsets([{ topic, partition: 0, offset: '2' }]);
    await first.disconnect();

    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(committed[0]?.partitions).toEqual([expect.objectContaining({ partition: 0, offset: '2' })]);

    await p.send({ topic, messages: [{ value: 'd' }] });
    const second = await consumeAll(consumer(groupId), topic, 2);
    expect(second.map((m) => m.value)).toEqual(['c', 'd']);
  });

  it('transactional produce with sendOffsets: read_committed sees committed batches only', async () => {
    const input = await createTopic('compat_txn_in', 1);
    const output = await createTopic('compat_txn_out', 3);
    const groupId = uniqueName('compat_txn_group');
    const p = producer({ transactionalId: uniqueName('compat_txn'), idempotent: true, maxInFlightRequests: 1 });
    await p.connect();

    const aborted = await p.transaction();
    await aborted.send({ topic: output, messages: [{ key: 'k', value: 'aborted' }] });
    await aborted.abort();

    const committed = await p.transaction();
    await committed.send({ topic: output, messages: [{ key: 'k', value: 'committed' }] });
    await committed.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [{ partition: 0, offset: '5' }] }] });
    await committed.commit();

    const seen = await consumeAll(consumer(uniqueName('compat_txn_reader')), output, 1);
    // The aborted record precedes the committed one in the log: a consumer that did not filter it would see it first.
    expect(seen.map((m) => m.value)).toEqual(['committed']);
    const offsets = await admin.fetchOffsets({ groupId, topics: [input] });
    expect(offsets[0]?.partitions).toEqual([expect.objectContaining({ partition: 0, offset: '5' })]);
  });

  it('answers the offset, group, config and partition admin requests', async () => {
    const topic = await createTopic('compat_admin_more', 1);
    const groupId = uniqueName('compat_describe_group');
    const p = producer();
    await p.connect();
    await p.send({ topic, messages: [{ value: 'one', timestamp: '1000' }, { value: 'two', timestamp: '2000' }] });

    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets).toEqual([expect.objectContaining({ partition: 0, low: '0', high: '2' })]);
    const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, 1500);
    expect(byTime).toEqual([{ partition: 0, offset: '1' }]);

    const c = consumer(groupId);
    const seen = await consumeAll(c, topic, 2);
    expect(seen.map((m) => m.value)).toEqual(['one', 'two']);
    const described = await admin.describeGroups([groupId]);
    expect(described.groups[0]?.state).toBe('Stable');
    expect(described.groups[0]?.members).toHaveLength(1);
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).toContain(groupId);
    await c.disconnect();

    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '1' }] });
    const reset = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(reset[0]?.partitions).toEqual([expect.objectContaining({ partition: 0, offset: '1' })]);

    const configs = await admin.describeConfigs({
      resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }],
      includeSynonyms: false,
    });
    expect(configs.resources[0]?.configEntries[0]).toEqual(
      expect.objectContaining({ configName: 'cleanup.policy', configValue: 'delete' }),
    );

    await admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] });
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(metadata.topics[0]?.partitions).toHaveLength(2);
  });

  it('reports the cluster as a single broker with a controller', async () => {
    const cluster = await admin.describeCluster();
    expect(cluster.brokers).toHaveLength(1);
    expect(cluster.controller).toBe(cluster.brokers[0]?.nodeId);
  });
});
