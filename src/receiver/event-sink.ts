// Where the receiver hands its events, and the one sink that writes them to the event log:
// each record's events all belong on the partition its key maps to. publish() resolves only once
// they are durable (Kafka acks or the embedded log's append), because the OTLP reply is sent
// after it. A PmfError with retryable=true turns into a retryable status for the exporter.
//
// Publishes that arrive while earlier ones are still waiting for their ack are sent together as one
// producer send: kafkajs spends most of its CPU per produce request (metadata look-up, one record
// batch and CRC per partition, several encoder buffers, the response), not per byte, so under load
// one send per OTLP request cost more than the receiver's own decoding and mapping. The joined
// publishes' records for one partition also become one record (record-joiner.ts).

import { PmfError } from '../core/errors.js';
import type { LogProducer, LogRecord, PartitionedLog } from '../log/partitioned-log.js';
import { joinRecordsByPartition } from './record-joiner.js';

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
/** Sends waiting for their ack at once; more publishes queue and go out together. */
export const MAX_SENDS_IN_FLIGHT = 2;
/** Bytes of records merged into one send (the Kafka producer splits a send into requests of about 512 KiB). */
export const MAX_MERGED_BYTES = 512 * 1024;

interface Pending {
  records: LogRecord[];
  bytes: number;
  resolve(): void;
  reject(err: unknown): void;
}

export class LogEventSink implements EventSink {
  partitions: number;
  private confirmed = false;
  private readonly queue: Pending[] = [];
  private inFlight = 0;

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
    if (records.length === 0) return;
    let bytes = 0;
    for (const r of records) bytes += r.value.length;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, bytes, resolve, reject });
      this.pump();
    });
  }

  /** Sends what is queued, merged in arrival order, while fewer than MAX_SENDS_IN_FLIGHT are out. */
  private pump(): void {
    while (this.inFlight < MAX_SENDS_IN_FLIGHT && this.queue.length > 0) {
      const batch: Pending[] = [this.queue.shift()!];
      let bytes = batch[0].bytes;
      while (this.queue.length > 0 && bytes + this.queue[0].bytes <= MAX_MERGED_BYTES) {
        const next = this.queue.shift()!;
        bytes += next.bytes;
        batch.push(next);
      }
      const records = batch.length === 1 ? batch[0].records : joinRecordsByPartition(batch.flatMap((p) => p.records), this.partitions);
      this.inFlight++;
      let sent: Promise<void>;
      try {
        sent = this.producer.send(this.topic, records);
      } catch (err) {
        sent = Promise.reject(err);
      }
      // Every publish in the merged send shares its outcome: acked together, or retried together.
      sent.then(
        () => {
          for (const p of batch) p.resolve();
        },
        (err: unknown) => {
          for (const p of batch) p.reject(err);
        },
      ).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }
}
