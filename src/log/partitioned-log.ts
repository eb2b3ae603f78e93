// The port every stage uses to talk to the log: Apache Kafka (adapters in log/kafka-*.ts) or the
// embedded in-process log (log/embedded-log.ts). Both give the same consumer-group semantics:
// one member owns a partition at a time, records of a partition arrive in offset order, and a
// committed offset is the next offset to read.

import type { Component } from '../core/lifecycle.js';

export interface LogRecord {
  key: string;
  value: Buffer;
  /**
   * The partition to write to, for a record meant for one partition rather than for a key's (a
   * watermark marker); absent: the key's partition (log/key-partition.ts). Both logs honour it.
   */
  partition?: number;
}

export interface ConsumedRecord {
  partition: number;
  /** Offset as a decimal string (Kafka offsets are int64). */
  offset: string;
  key: string | null;
  value: Buffer;
  /** Broker/append time in ms; never used as event time. */
  timestamp: number;
}

export interface PartitionBatch {
  topic: string;
  partition: number;
  records: ConsumedRecord[];
  /**
   * The log already held records past the fetch this batch came from (a backlog of at least a
   * fetch: a catch-up or replay, not the live tail). Absent when the log does not say.
   */
  catchingUp?: boolean;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface TopicPartitionOffset extends TopicPartition {
  /** Next offset to read. */
  offset: string;
}

export interface BatchHandler {
  /**
   * Called with the full set of partitions this member owns after each rebalance, before any
   * batch from a newly assigned partition. Partitions missing from it were revoked.
   */
  onAssignment?(owned: TopicPartition[]): Promise<void>;
  /** Must not resolve before the batch is processed; throwing re-delivers from the last commit. */
  handleBatch(batch: PartitionBatch, heartbeat: () => Promise<void>): Promise<void>;
}

export interface GroupConsumerOptions {
  groupId: string;
  topics: string[];
  /** Where a group with no committed offset starts. */
  fromBeginning: boolean;
}

export interface GroupConsumer extends Component {
  /** How often a batch handler that waits long should call its heartbeat (absent: it need not). */
  readonly heartbeatIntervalMs?: number;
  /** Commits the next offsets to read. Only call for partitions this member owns. */
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
}

export interface SendOptions {
  /**
   * A send that should not queue behind the topic's bulk sends (a rollback's evidence and command).
   * Urgent and other sends to one topic are not ordered relative to each other: a caller that needs
   * an order between them awaits the first before making the second.
   */
  urgent?: boolean;
}

export interface LogProducer extends Component {
  /** Resolves only after the log acknowledged every record (Kafka: acks=all). */
  send(topic: string, records: LogRecord[], options?: SendOptions): Promise<void>;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  /** How long records are kept (Kafka retention.ms; -1 = forever); absent = the log's default. */
  retentionMs?: number;
}

/** Partitions whose committed offset was found below the log start: records lost to retention. */
export interface RetentionGaps {
  /** Times a group's committed offset was behind the log start, per topic. */
  gaps: Map<string, number>;
  /** Records between those offsets and the log start, per topic. */
  recordsLost: Map<string, number>;
}

export interface PartitionedLog {
  readonly kind: 'kafka' | 'embedded';
  ensureTopics(topics: TopicSpec[]): Promise<void>;
  producer(name: string): LogProducer;
  consumer(options: GroupConsumerOptions, handler: BatchHandler): GroupConsumer;
  /** Reads a topic from its beginning (or the given offsets) up to its current end; for replay and tests. */
  readAll?(topic: string): AsyncIterable<PartitionBatch>;
  /** Log end offset (next offset to be written) per partition; for consumer-lag metrics. */
  endOffsets?(topic: string): Promise<Map<number, string>>;
  /** Records lost to retention before a consumer group read them (alert on any increase). */
  retentionGaps?(): RetentionGaps;
  /** Health probe for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
