// Kafka when brokers are configured, else the embedded log under the data directory. Shared by
// the running app and the replay/export tools so they read the same log the same way.

import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Config } from '../config/schema.js';
import { EmbeddedLog } from '../log/embedded/embedded-log.js';
import { KafkaLog } from '../log/kafka/kafka-log.js';
import type { PartitionedLog } from '../log/partitioned-log.js';

export function createLog(config: Config, clock: Clock, logger: Logger): PartitionedLog {
  return config.kafka.brokers
    ? new KafkaLog({
        brokers: [...config.kafka.brokers],
        clientId: config.kafka.clientId,
        replicationFactor: config.kafka.replicationFactor,
        sessionTimeoutMs: config.kafka.sessionTimeoutMs,
        heartbeatIntervalMs: config.kafka.heartbeatIntervalMs,
        maxWaitTimeMs: config.kafka.maxWaitTimeMs,
        maxBatchSize: config.kafka.maxBatchSize,
        sendTimeoutMs: config.kafka.sendTimeoutMs,
        connectionTimeoutMs: config.kafka.connectionTimeoutMs,
        requestTimeoutMs: config.kafka.requestTimeoutMs,
        pingTimeoutMs: config.kafka.pingTimeoutMs,
        fastRetry: { ...config.kafka.producerRetry },
        consumerRetry: { ...config.kafka.consumerRetry },
        logger: logger.child('kafka'),
      })
    : new EmbeddedLog({ dataDir: join(config.dataDir, 'log'), clock, logger: logger.child('embedded-log') });
}
