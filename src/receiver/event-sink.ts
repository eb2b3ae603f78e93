// Where the receiver hands its events, and the one sink that writes them to the event log:
// each record's events all belong on the partition its key maps to. publish() resolves only once
// they are durable (Kafka acks or the embedded log's append), because the OTLP reply is sent
// after it. A PmfError with retryable=true turns into a retryable status for the exporter.

import { PmfError } from '../core/errors.js';
import type { LogProducer, LogRecord, PartitionedLog } from '../log/partitioned-log.js';

export interface EventSink {
  /** Partitions of the events topic: the receiver groups events per partition for it. */
  readonly partitions: number;
  /** Learns the partition count; the receiver calls it before it listens. */
  start?(): Promise<void>;
  publish(records: LogRecord[]): Promise<void>;
}

/**
 * The events topic of a PartitionedLog. Its partition count is read from the log at start (the
 * configured count is only the fallback when the log cannot say), because grouping users by the
 * wrong count would put a record's other users on a partition their key does not map to.
 */
export class LogEventSink implements EventSink {
  partitions: number;
  private confirmed = false;

  constructor(
    private readonly log: Pick<PartitionedLog, 'endOffsets'>,
    private readonly producer: Pick<LogProducer, 'send'>,
    readonly topic: string,
    configuredPartitions: number,
  ) {
    this.partitions = configuredPartitions;
  }

  /** Never fails: with the log down, the count is confirmed by the first publish instead. */
  async start(): Promise<void> {
    await this.confirm().catch(() => undefined);
  }

  private async confirm(): Promise<boolean> {
    if (this.confirmed || !this.log.endOffsets) return true;
    const ends = await this.log.endOffsets(this.topic);
    this.confirmed = true;
    if (ends.size === 0 || ends.size === this.partitions) return true;
    this.partitions = ends.size;
    return false;
  }

  async publish(records: LogRecord[]): Promise<void> {
    if (!(await this.confirm())) {
      throw new PmfError('ERR_LOG_UNAVAILABLE', `${this.topic} has ${this.partitions} partitions, not the configured count; retry`, { retryable: true });
    }
    return this.producer.send(this.topic, records);
  }
}
