// Topic creation with explicit durability: replication factor and min.insync.replicas sized to
// the cluster (topic-durability.ts) and retention.ms per topic. Topics that already exist are
// never altered (they may be managed elsewhere), but every difference from what pmf-guard would
// have created is reported, so a topic left at replication factor 1 does not go unnoticed.

import kafkajs, { type Admin } from 'kafkajs';
import type { Logger } from '../../core/logger.js';
import type { TopicSpec } from '../partitioned-log.js';
import { topicDurability, type Durability } from './topic-durability.js';

export async function ensureKafkaTopics(admin: Admin, topics: TopicSpec[], wanted: Durability, logger: Logger): Promise<void> {
  const { brokers } = await admin.describeCluster();
  const durability = topicDurability(wanted, brokers.length);
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t.name));
  if (missing.length > 0) {
    // Loud on purpose: acks=all protects nothing on a topic with one copy.
    if (durability.warning) logger.error(durability.warning, { topics: missing.map((t) => t.name) });
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((t) => ({
        topic: t.name,
        numPartitions: t.partitions,
        replicationFactor: durability.replicationFactor,
        configEntries: [
          { name: 'min.insync.replicas', value: String(durability.minInsyncReplicas) },
          ...(t.retentionMs === undefined ? [] : [{ name: 'retention.ms', value: String(t.retentionMs) }]),
        ],
      })),
    });
  }
  const present = topics.filter((t) => existing.has(t.name));
  if (present.length === 0) return;
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics: present.map((t) => t.name) });
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: present.map((t) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name: t.name, configNames: ['min.insync.replicas', 'retention.ms'] })),
  });
  for (const t of present) {
    const partitions = metadata.find((m) => m.name === t.name)?.partitions ?? [];
    const config = new Map((resources.find((r) => r.resourceName === t.name)?.configEntries ?? []).map((e) => [e.configName, e.configValue]));
    const actual = {
      partitions: partitions.length,
      replicationFactor: Math.min(...partitions.map((p) => p.replicas.length)),
      minInsyncReplicas: Number(config.get('min.insync.replicas')),
      retentionMs: Number(config.get('retention.ms')),
    };
    const expected = { partitions: t.partitions, replicationFactor: durability.replicationFactor, minInsyncReplicas: durability.minInsyncReplicas, retentionMs: t.retentionMs };
    const differs = (Object.keys(expected) as (keyof typeof expected)[]).filter((k) => expected[k] !== undefined && expected[k] !== actual[k]);
    if (differs.length === 0) continue;
    const weaker = actual.replicationFactor < durability.replicationFactor || actual.minInsyncReplicas < durability.minInsyncReplicas;
    (weaker ? logger.error : logger.warn).call(logger, `topic ${t.name} exists with other settings than pmf-guard would create (${differs.join(', ')}); keeping them`, {
      topic: t.name,
      expected,
      actual,
    });
  }
}
