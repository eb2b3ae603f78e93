// Kafka when brokers are configured, else the embedded log under the data directory. Shared by
// the running app and the replay/export tools so they read the same log the same way.

import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Config } from '../config/schema.js';
import { topicNames, type Topics } from '../events/topics.js';
import { cohortStatsPartition } from '../events/cohort-stats-codec.js';
import { EmbeddedLog, type TopicRetention } from '../log/embedded/embedded-log.js';
import { KafkaLog } from '../log/kafka/kafka-log.js';
import { kafkaSaslOptions, kafkaTlsOptions } from '../log/kafka/kafka-security.js';
import type { PartitionedLog, TopicSpec } from '../log/partitioned-log.js';

export function createLog(config: Config, clock: Clock, logger: Logger): PartitionedLog {
  const k = config.kafka;
  return k.brokers
    ? new KafkaLog({
        brokers: [...k.brokers],
        clientId: k.clientId,
        ssl: kafkaTlsOptions(k.tls),
        sasl: kafkaSaslOptions(k.sasl),
        replicationFactor: k.replicationFactor,
        minInsyncReplicas: k.minInsyncReplicas,
        sessionTimeoutMs: k.sessionTimeoutMs,
        heartbeatIntervalMs: k.heartbeatIntervalMs,
        maxWaitTimeMs: k.maxWaitTimeMs,
        maxBatchSize: k.maxBatchSize,
        sendTimeoutMs: k.sendTimeoutMs,
        connectionTimeoutMs: k.connectionTimeoutMs,
        requestTimeoutMs: k.requestTimeoutMs,
        pingTimeoutMs: k.pingTimeoutMs,
        fastRetry: { ...k.producerRetry },
        consumerRetry: { ...k.consumerRetry },
        logger: logger.child('kafka'),
      })
    : new EmbeddedLog({
        dataDir: join(config.dataDir, 'log'),
        fsync: config.embedded.fsync,
        fsyncIntervalMs: config.embedded.fsyncIntervalMs,
        retentionCheckIntervalMs: config.embedded.retentionCheckIntervalMs,
        retention: embeddedRetention(config),
        clock,
        logger: logger.child('embedded-log'),
      });
}

/** The topics every role ensures at start, with the configured partitions and retention. */
export function topicSpecs(config: Config, topics: Topics): TopicSpec[] {
  return (Object.keys(topics) as (keyof Topics)[]).map((t) => ({ name: topics[t], partitions: config.kafka.partitions, retentionMs: config.kafka.retentionMs[t] }));
}

function embeddedRetention(config: Config): Record<string, TopicRetention> {
  const names = topicNames(config.kafka.topicPrefix);
  const t = config.embedded.topics;
  const of = (r: (typeof t)['events']): TopicRetention => ({
    retentionMs: r.retentionMs ?? undefined,
    retentionBytes: r.retentionBytes ?? undefined,
    segmentBytes: r.segmentBytes,
    segmentMs: r.segmentMs,
  });
  return {
    [names.events]: of(t.events),
    [names.cohortStats]: { ...of(t.cohortStats), compactionKey: cohortStatsKey },
    [names.verdicts]: of(t.verdicts),
    [names.commands]: of(t.commands),
  };
}

// A cohort-stats record holds cumulative snapshots of one feature from one source partition (a
// binary record starts with a full one, so it never needs an older record), and the record key is
// only the feature: the newest per (feature, source partition) supersedes the older.
// A value that cannot be read is never compacted away.
function cohortStatsKey(record: { key: string | null; value: Buffer }): string | null {
  if (record.key === null) return null;
  const partition = cohortStatsPartition(record.value);
  return partition === undefined ? null : `${record.key}\u0000${String(partition)}`;
}
