// Durability on a real broker: topics are created with explicit retention.ms and the largest
// replication the (single-broker) cluster can hold, with a loud warning; an existing topic with
// other settings is reported. And records deleted before a consumer group read them (retention,
// here advanced with DeleteRecords) are counted and logged instead of silently skipped.

import kafkajs from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaLog } from '../../../src/log/kafka/kafka-log.js';
import type { Logger } from '../../../src/core/logger.js';
import type { ConsumedRecord } from '../../../src/log/partitioned-log.js';
import { testServices, uniqueName, waitFor } from '../../helpers/services.js';

interface Line { level: string; message: string; fields?: Record<string, unknown> }

function recordingLogger(lines: Line[]): Logger {
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

describe('Kafka topic durability and retention gaps', () => {
  const brokers = [...testServices.kafkaBrokers];
  const admin = new kafkajs.Kafka({ brokers, clientId: 'durability-test', logLevel: kafkajs.logLevel.NOTHING }).admin();
  const created: string[] = [];
  const logs: KafkaLog[] = [];
  const open = (lines: Line[]) => {
    const log = new KafkaLog({ brokers, clientId: 'durability-test', logLevel: 'nothing', logger: recordingLogger(lines), maxWaitTimeMs: 200 });
    logs.push(log);
    return log;
  };

  afterAll(async () => {
    for (const log of logs) await log.close();
    await admin.deleteTopics({ topics: created }).catch(() => undefined);
    await admin.disconnect();
  });

  it('creates topics with explicit retention.ms and min.insync.replicas, warning loudly about the missing brokers', async () => {
    await admin.connect();
    const lines: Line[] = [];
    const name = uniqueName('durable');
    created.push(name);
    await open(lines).ensureTopics([{ name, partitions: 2, retentionMs: 123_456_789 }]);
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms', 'min.insync.replicas'] }],
    });
    const config = Object.fromEntries(resources[0].configEntries.map((e) => [e.configName, e.configValue]));
    const { brokers: cluster } = await admin.describeCluster();
    expect(config['retention.ms']).toBe('123456789');
    // The test stack has one broker: the largest valid values, and an error-level line saying so.
    expect(cluster).toHaveLength(1);
    expect(config['min.insync.replicas']).toBe('1');
    const { topics } = await admin.fetchTopicMetadata({ topics: [name] });
    expect(topics[0].partitions.map((p) => p.replicas.length)).toEqual([1, 1]);
    expect(lines.filter((l) => l.level === 'error').map((l) => l.message)).toEqual([
      expect.stringMatching(/^the cluster has 1 broker\(s\): new topics get replication factor 1 and min\.insync\.replicas 1 instead of 3 and 2/),
    ]);

    // Asked again with another retention: kept as it is, and reported.
    const again: Line[] = [];
    await open(again).ensureTopics([{ name, partitions: 2, retentionMs: 1000 }]);
    expect(again.map((l) => l.message)).toContainEqual(expect.stringMatching(new RegExp(`^topic ${name} exists with other settings .*\\(retentionMs\\)`)));
  });

  it('counts and logs records deleted before the group read them, and goes on from the log start', async () => {
    const lines: Line[] = [];
    const log = open(lines);
    const topic = uniqueName('gap');
    const groupId = uniqueName('gap-group');
    created.push(topic);
    await log.ensureTopics([{ name: topic, partitions: 1 }]);
    const producer = log.producer('gap-test');
    await producer.start();
    await producer.send(topic, Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: Buffer.from(String(i)) })));

    // The group reads and commits the first 3 records, then stops.
    const first: ConsumedRecord[] = [];
    const c1 = log.consumer({ groupId, topics: [topic], fromBeginning: true }, {
      handleBatch: async (batch) => {
        const take = batch.records.filter((r) => Number(r.offset) < 3);
        first.push(...take);
        if (take.length > 0) await c1.commit([{ topic, partition: 0, offset: '3' }]);
      },
    });
    await c1.start();
    await waitFor(() => first.length === 3, { message: 'first three records read' });
    await c1.stop();

    // Retention deletes records 0..6 while the group is away.
    await admin.fetchTopicMetadata({ topics: [topic] }); // so the admin client knows the partition's leader
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '7' }] });
    await producer.send(topic, [{ key: 'k', value: Buffer.from('10') }]);

    const second: ConsumedRecord[] = [];
    const c2 = log.consumer({ groupId, topics: [topic], fromBeginning: true }, { handleBatch: async (batch) => void second.push(...batch.records) });
    await c2.start();
    await waitFor(() => second.length === 4, { message: 'the records still in the log' });
    await c2.stop();
    await producer.stop();

    expect(second.map((r) => r.offset)).toEqual(['7', '8', '9', '10']);
    // The log-start check runs beside consumption (bounded so it cannot hold a batch back), so on a
    // busy machine it may finish after the records were read: wait for it, then check what it found.
    const gaps = await waitFor(() => (log.retentionGaps().gaps.get(topic) !== undefined ? log.retentionGaps() : undefined), { message: 'the retention gap counted' });
    expect(gaps.gaps.get(topic)).toBe(1);
    expect(gaps.recordsLost.get(topic)).toBe(4);
    const errors = lines.filter((l) => l.level === 'error' && l.fields?.code === 'ERR_LOG_GAP');
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toBe(`records lost to retention: ${topic}/0 was committed at 3 but the log now starts at 7`);
  });
});
