// Kafka when brokers are configured, else the embedded log under the data directory. Shared by
// the running app and the replay/export tools so they read the same log the same way.

import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Config } from '../config/schema.js';
import type { Topics } from '../events/topics.js';
import { EmbeddedLog } from '../log/embedded/embedded-log.js';
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
        logger: logger.child('kafka'),
      })
    : new EmbeddedLog({ dataDir: join(config.dataDir, 'log'), clock, logger: logger.child('embedded-log') });
}

/** The topics every role ensures at start, with the configured partitions and retention. */
export function topicSpecs(config: Config, topics: Topics): TopicSpec[] {
  return (Object.keys(topics) as (keyof Topics)[]).map((t) => ({ name: topics[t], partitions: config.kafka.partitions, retentionMs: config.kafka.retentionMs[t] }));
}
