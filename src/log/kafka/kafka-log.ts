// PartitionedLog on Apache Kafka through kafkajs 2.2.4 (behind this port so the client can be
// swapped, see docs/architecture.md). Producer: acks=all, no idempotence, bounded send time.
// Consumers: explicit commits only, re-delivery from the last commit on handler errors, restart
// after crashes. Admin: topic creation, readiness ping, readAll end offsets.

import type { ConnectionOptions } from 'node:tls';
import type { Admin, Kafka, LogEntry, SASLOptions } from 'kafkajs';
import kafkajs from 'kafkajs';
import { systemClock, type Clock } from '../../core/clock.js';
import { PmfError, errorMessage } from '../../core/errors.js';
import { once, stopAll, type Component } from '../../core/lifecycle.js';
import { withDeadline } from './deadline.js';
import { KafkaGroupConsumer } from './kafka-consumer.js';
import { fromKafkaError } from './kafka-errors.js';
import { KafkaProducer } from './kafka-producer.js';
import { readAllFromKafka } from './kafka-read-all.js';
import { ensureKafkaTopics } from './kafka-topics.js';
import { RetentionGapMonitor } from './retention-gap-monitor.js';
import type { Logger } from '../../core/logger.js';
import type {
  BatchHandler,
  GroupConsumer,
  GroupConsumerOptions,
  LogProducer,
  PartitionBatch,
  PartitionedLog,
  RetentionGaps,
  TopicSpec,
} from '../partitioned-log.js';
import { defaultRetryBackoff, type RetryBackoff } from '../../core/retry-backoff.js';
import { checkTopicSpec } from '../topic-spec.js';
import { configDefaults } from '../../config/schema.js';

/** kafkajs applies only the client-wide retry to connecting, hence one client per retry policy. */
export interface KafkaRetry {
  retries: number;
  initialRetryTime: number;
  maxRetryTime: number;
}

export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

export interface KafkaLogOptions {
  brokers: string[];
  clientId: string;
  ssl?: boolean | ConnectionOptions;
  sasl?: SASLOptions;
  /** kafkajs' own log level, forwarded to the logger (default 'warn'). */
  logLevel?: KafkaLogLevel;
  // The options below default to their fields of config `kafka` (config/schema.ts says what each does).
  /** Wanted for topics ensureTopics creates (a smaller cluster gets fewer, with a warning). */
  replicationFactor?: number;
  /** Wanted min.insync.replicas of created topics. */
  minInsyncReplicas?: number;
  sendTimeoutMs?: number;
  connectionTimeoutMs?: number;
  /** kafkajs retries (connections, metadata, requests) for the producer and admin calls (config kafka.producerRetry). */
  fastRetry?: KafkaRetry;
  /** kafkajs retries for consumers. */
  consumerRetry?: KafkaRetry;
  requestTimeoutMs?: number;
  /** ping() gives up after this long. */
  pingTimeoutMs?: number;
  /** Most records per handleBatch call; kafkajs batches are split. */
  maxBatchSize?: number;
  /** Delay before re-delivering after a handler throws (default 200 ms doubling to 10 s). */
  retryBackoff?: RetryBackoff;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  maxWaitTimeMs?: number;
  clock?: Clock;
  logger: Logger;
}

const defaults = configDefaults.kafka;

const LEVELS: Record<KafkaLogLevel, number> = {
  nothing: kafkajs.logLevel.NOTHING,
  error: kafkajs.logLevel.ERROR,
  warn: kafkajs.logLevel.WARN,
  info: kafkajs.logLevel.INFO,
  debug: kafkajs.logLevel.DEBUG,
};

export class KafkaLog implements PartitionedLog {
  readonly kind = 'kafka' as const;
  /** Producer and admin client. */
  private readonly fastKafka: Kafka;
  /** Consumer client. */
  private readonly kafka: Kafka;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly maxBatchSize: number;
  private readonly components = new Set<Component>();
  private admin?: Promise<Admin>;
  private closed = false;
  private readonly gapMonitor: RetentionGapMonitor;

  constructor(private readonly options: KafkaLogOptions) {
    if (options.brokers.length === 0) throw new PmfError('ERR_CONFIG_INVALID', 'kafka: brokers must not be empty');
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.maxBatchSize = options.maxBatchSize ?? defaults.maxBatchSize;
    if (!Number.isInteger(this.maxBatchSize) || this.maxBatchSize < 1) {
      throw new PmfError('ERR_CONFIG_INVALID', 'kafka: maxBatchSize must be an integer >= 1');
    }
    const logger = this.logger;
    const client = (retry: KafkaRetry) =>
      new kafkajs.Kafka({
        brokers: options.brokers,
        clientId: options.clientId,
        ssl: options.ssl,
        sasl: options.sasl,
        connectionTimeout: options.connectionTimeoutMs ?? defaults.connectionTimeoutMs,
        requestTimeout: options.requestTimeoutMs ?? defaults.requestTimeoutMs,
        retry,
        logLevel: LEVELS[options.logLevel ?? 'warn'],
        logCreator: () => (entry: LogEntry) => forwardKafkaJsLog(logger, entry),
      });
    this.fastKafka = client(options.fastRetry ?? { ...defaults.producerRetry });
    this.kafka = client(options.consumerRetry ?? { ...defaults.consumerRetry });
    this.gapMonitor = new RetentionGapMonitor(() => this.adminClient(), this.logger);
  }

  retentionGaps(): RetentionGaps {
    return this.gapMonitor.snapshot();
  }

  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    this.assertOpen();
    topics.forEach(checkTopicSpec);
    try {
      const wanted = { replicationFactor: this.options.replicationFactor ?? defaults.replicationFactor, minInsyncReplicas: this.options.minInsyncReplicas ?? defaults.minInsyncReplicas };
      await ensureKafkaTopics(await this.adminClient(), topics, wanted, this.logger);
    } catch (err) {
      throw fromKafkaError(err, 'ensureTopics', 'ERR_LOG_UNAVAILABLE');
    }
  }

  producer(name: string): LogProducer {
    this.assertOpen();
    return this.track(
      KafkaProducer.create(name, this.fastKafka, {
        sendTimeoutMs: this.options.sendTimeoutMs ?? defaults.sendTimeoutMs,
        clock: this.clock,
        logger: this.logger,
      }),
    );
  }

  consumer(options: GroupConsumerOptions, handler: BatchHandler): GroupConsumer {
    this.assertOpen();
    if (options.topics.length === 0) throw new PmfError('ERR_CONFIG_INVALID', `consumer ${options.groupId}: no topics`);
    return this.track(
      new KafkaGroupConsumer(this.kafka, options, handler, {
        clientId: this.options.clientId,
        maxBatchSize: this.maxBatchSize,
        retryBackoff: this.options.retryBackoff ?? defaultRetryBackoff,
        sessionTimeoutMs: this.options.sessionTimeoutMs ?? defaults.sessionTimeoutMs,
        heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? defaults.heartbeatIntervalMs,
        maxWaitTimeMs: this.options.maxWaitTimeMs ?? defaults.maxWaitTimeMs,
        clock: this.clock,
        logger: this.logger,
        // Bounded: a slow admin call must not hold the first batch of a generation for long.
        checkLogStart: (groupId, owned) => {
          const check = this.gapMonitor.check(groupId, owned);
          check.catch(() => undefined);
          return withDeadline(check, this.options.pingTimeoutMs ?? defaults.pingTimeoutMs, this.clock, () =>
            new PmfError('ERR_LOG_UNAVAILABLE', `log-start check for ${groupId}: no answer within ${this.options.pingTimeoutMs ?? defaults.pingTimeoutMs} ms`, { retryable: true }),
          );
        },
      }),
    );
  }

  readAll(topic: string): AsyncIterable<PartitionBatch> {
    this.assertOpen();
    return readAllFromKafka(this.kafka, () => this.adminClient(), topic, {
      clientId: this.options.clientId,
      maxBatchSize: this.maxBatchSize,
      maxWaitTimeMs: this.options.maxWaitTimeMs ?? defaults.maxWaitTimeMs,
      logger: this.logger,
    });
  }

  async endOffsets(topic: string): Promise<Map<number, string>> {
    this.assertOpen();
    try {
      const offsets = await (await this.adminClient()).fetchTopicOffsets(topic);
      return new Map(offsets.map((o) => [o.partition, o.high] as const));
    } catch (err) {
      throw fromKafkaError(err, `end offsets of ${topic}`, 'ERR_LOG_UNAVAILABLE');
    }
  }

  async ping(): Promise<void> {
    this.assertOpen();
    const timeoutMs = this.options.pingTimeoutMs ?? defaults.pingTimeoutMs;
    const probe = this.adminClient().then((admin) => admin.describeCluster());
    try {
      await withDeadline(probe, timeoutMs, this.clock, () =>
        new PmfError('ERR_LOG_UNAVAILABLE', `ping: no answer from Kafka within ${timeoutMs} ms`, { retryable: true }),
      );
    } catch (err) {
      probe.catch(() => undefined);
      // A fresh admin client next time, rather than trusting one whose connection broke.
      await this.dropAdmin();
      throw fromKafkaError(err, 'ping', 'ERR_LOG_UNAVAILABLE');
    }
  }

  /** Stops every producer and consumer this log made, then the admin client. */
  readonly close = once(async () => {
    this.closed = true;
    try {
      await stopAll([...this.components]);
    } finally {
      await this.dropAdmin();
    }
  });

  private adminClient(): Promise<Admin> {
    if (this.admin === undefined) {
      const admin = this.fastKafka.admin();
      const connected = admin.connect().then(() => admin);
      this.admin = connected;
      connected.catch(() => {
        if (this.admin === connected) this.admin = undefined;
      });
    }
    return this.admin;
  }

  private async dropAdmin(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    if (admin === undefined) return;
    await admin.then(
      (a) => a.disconnect(),
      () => undefined,
    ).catch((err: unknown) => this.logger.warn('kafka admin disconnect failed', { error: errorMessage(err) }));
  }

  private track<T extends Component>(component: T): T {
    this.components.add(component);
    return component;
  }

  private assertOpen(): void {
    if (this.closed) throw new PmfError('ERR_STOPPED', 'kafka log is closed');
  }
}

function forwardKafkaJsLog(logger: Logger, { namespace, level, log }: LogEntry): void {
  const { message, timestamp: _timestamp, logger: _name, ...fields } = log;
  const text = `kafkajs ${namespace}: ${message}`;
  if (level <= kafkajs.logLevel.ERROR) logger.error(text, fields);
  else if (level === kafkajs.logLevel.WARN) logger.warn(text, fields);
  else logger.info(text, fields);
}
