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
//
// With marking on, each send also carries a watermark marker for every partition this receiver
// has left quiet for markIdleMs (idle-marker.ts), so the marker has the data's ack semantics; once
// traffic stops, a timer on the injected clock sends the markers still owed, then stops.

import { configDefaults } from '../config/schema.js';
import { systemClock, type Clock } from '../core/clock.js';
import { errorMessage, PmfError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { partitionForKey } from '../log/key-partition.js';
import type { LogProducer, LogRecord, PartitionedLog } from '../log/partitioned-log.js';
import { IdleMarker } from './idle-marker.js';
import { joinRecordsByPartition } from './record-joiner.js';
import type { ReceiverMetrics } from './receiver-metrics.js';

/** Highest event time per source ("" = events without one) of a publish's events (EventBatcher.takeTimes). */
export type SourceTimes = ReadonlyMap<string, number>;

export interface EventSink {
  /** Partitions of the events topic: the receiver groups events per partition for it. */
  readonly partitions: number;
  /** Learns the partition count; the receiver calls it before it listens. */
  start?(): Promise<void>;
  /** `times`: the highest event time per source among the records' events, for watermark markers. */
  publish(records: LogRecord[], times?: SourceTimes): Promise<void>;
  /** Stops sending markers and waits for the sends out; after the listeners drained. */
  stop?(): Promise<void>;
}

export interface BatchingOptions {
  /** 0 = every publish goes at once when a send slot is free. Default: receiver.lingerMs's. */
  lingerMs?: number;
  /** Default: the marking clock, else the system clock. */
  clock?: Clock;
}

export interface MarkingOptions {
  /** A partition this receiver left quiet this long gets a marker with its next send; 0 = no markers. */
  markIdleMs: number;
  clock: Clock;
  metrics: Pick<ReceiverMetrics, 'markersWritten'>;
  logger: Logger;
}

/**
 * The events topic of a PartitionedLog. Its partition count is read from the log at start (the
 * configured count is only the fallback when the log cannot say), because grouping users by the
 * wrong count would put a record's other users on a partition their key does not map to.
 */
/** Sends waiting for their ack at once; more publishes queue and go out together. */
export const MAX_SENDS_IN_FLIGHT = 2;
/*
 * Linger (receiver.lingerMs, 10 ms by default): how long a publish may wait for others to share its
 * send, while publishes come closer together than that (a receiver busy with concurrent requests);
 * a publish after a quiet spell goes at once.
 * kafkajs spends 250-400 µs of CPU per send and 65-77 µs per partition in it, besides 5-12 ns per
 * byte (bench:kafkajs-send-cost): one 500-span request alone in a send paid 1.3-2 µs per span for
 * that, against ~0.4 µs when three share it. A receiver on a busy core finishes a request about as
 * often as an ack comes back (every ~5 ms at 100 k spans/s), so without waiting nearly every
 * publish went alone: six records per request in the Collector comparison. The Java producer's
 * linger.ms (5 ms by default since Kafka 4.0) waits for the same reason; 10 ms lets two or three
 * requests of a busy receiver share a send, for at most 10 ms more per reply, under load only.
 */
/** Bytes of records merged into one send (the Kafka producer splits a send into requests of about 512 KiB). */
export const MAX_MERGED_BYTES = 512 * 1024;

interface Pending {
  records: LogRecord[];
  /** When it was published (the linger clock). */
  at: number;
  times?: SourceTimes;
  bytes: number;
  resolve(): void;
  reject(err: unknown): void;
}

export class LogEventSink implements EventSink {
  partitions: number;
  private confirmed = false;
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private readonly sending = new Set<Promise<void>>();
  private readonly marker?: IdleMarker;
  private timer?: { cancel(): void; at: number };
  private lingerTimer?: { cancel(): void };
  private readonly lingerMs: number;
  private readonly clock: Clock;
  /** When the latest publish came: one closer than lingerMs to it means a busy receiver. */
  private lastAt = Number.NEGATIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly log: Pick<PartitionedLog, 'endOffsets'>,
    private readonly producer: Pick<LogProducer, 'send'>,
    readonly topic: string,
    configuredPartitions: number,
    private readonly marking?: MarkingOptions,
    batching: BatchingOptions = {},
  ) {
    this.partitions = configuredPartitions;
    this.lingerMs = batching.lingerMs ?? configDefaults.receiver.lingerMs;
    this.clock = batching.clock ?? marking?.clock ?? systemClock;
    if (marking && marking.markIdleMs > 0) this.marker = new IdleMarker(configuredPartitions, marking.markIdleMs, marking.clock);
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
    this.marker?.resize(ends.size);
    return false;
  }

  async publish(records: LogRecord[], times?: SourceTimes): Promise<void> {
    if (!(await this.confirm())) {
      throw new PmfError('ERR_LOG_UNAVAILABLE', `${this.topic} has ${this.partitions} partitions, not the configured count; retry`, { retryable: true });
    }
    if (records.length === 0) return;
    let bytes = 0;
    for (const r of records) bytes += r.value.length;
    const at = this.clock.now();
    // Lingers only when this publish came soon after the one before: under load more follow soon.
    const linger = this.lingerMs > 0 && at - this.lastAt < this.lingerMs;
    this.lastAt = at;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, times, bytes, at, resolve, reject });
      this.pump(!linger);
    });
  }

  /** Cancels the marker timer and waits for the sends out to settle. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    if (this.lingerTimer) this.pump(true); // what lingers goes now
    await Promise.allSettled([...this.sending]);
  }

  /**
   * Sends what is queued, merged in arrival order, while fewer than MAX_SENDS_IN_FLIGHT are out.
   * Unless `now`, a queue that still lingers (below) waits for the timer that ends its wait.
   */
  private pump(now = false): void {
    if (!now && this.queue.length > 0 && this.inFlight < MAX_SENDS_IN_FLIGHT && this.lingers()) return;
    this.lingerTimer?.cancel();
    this.lingerTimer = undefined;
    while (this.inFlight < MAX_SENDS_IN_FLIGHT && this.queue.length > 0) {
      const batch: Pending[] = [this.queue.shift()!];
      let bytes = batch[0].bytes;
      while (this.queue.length > 0 && bytes + this.queue[0].bytes <= MAX_MERGED_BYTES) {
        const next = this.queue.shift()!;
        bytes += next.bytes;
        batch.push(next);
      }
      const joined = batch.length === 1 ? batch[0].records : joinRecordsByPartition(batch.flatMap((p) => p.records), this.partitions);
      const markers = this.markersFor(batch, joined);
      const records = markers.length === 0 ? joined : [...joined, ...markers];
      if (records.length === 0) {
        for (const p of batch) p.resolve(); // a marker round with nothing due
        continue;
      }
      this.inFlight++;
      let sent: Promise<void>;
      try {
        sent = this.producer.send(this.topic, records);
      } catch (err) {
        sent = Promise.reject(err);
      }
      // Every publish in the merged send shares its outcome: acked together, or retried together.
      const settled = sent.then(
        () => {
          if (this.marking) this.marking.metrics.markersWritten += markers.length;
          for (const p of batch) p.resolve();
        },
        (err: unknown) => {
          this.marker?.failed(markers);
          for (const p of batch) p.reject(err);
        },
      ).finally(() => {
        this.inFlight--;
        this.sending.delete(settled);
        this.pump();
      });
      this.sending.add(settled);
    }
    this.armMarkerTimer();
  }

  /** Whether the queue waits for company: short of MAX_MERGED_BYTES and its oldest publish younger than lingerMs. */
  private lingers(): boolean {
    let bytes = 0;
    for (const p of this.queue) bytes += p.bytes;
    const wait = this.queue[0].at + this.lingerMs - this.clock.now();
    if (bytes >= MAX_MERGED_BYTES || wait <= 0) return false;
    this.lingerTimer ??= this.clock.setTimeout(() => {
      this.lingerTimer = undefined;
      this.pump(true);
    }, wait);
    return true;
  }

  /** The markers this send carries: the batch's times noted first, so a marker covers the data it goes with. */
  private markersFor(batch: readonly Pending[], records: readonly LogRecord[]): LogRecord[] {
    const marker = this.marker;
    if (marker === undefined) return [];
    for (const p of batch) if (p.times) marker.noteTimes(p.times);
    const written = new Set<number>();
    for (const r of records) written.add(r.partition ?? partitionForKey(r.key, this.partitions));
    return marker.take(written);
  }

  /** Once traffic stops, the markers still owed go out on their own when due. */
  private armMarkerTimer(): void {
    const marker = this.marker;
    // Anything queued goes out through pump, which takes the due markers and arms again after it.
    if (marker === undefined || this.stopped || this.queue.length > 0) return;
    const due = marker.nextDue();
    if (due === undefined || (this.timer && this.timer.at <= due)) return;
    this.timer?.cancel();
    const { clock, logger } = this.marking!;
    const handle = clock.setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      const round = new Promise<void>((resolve, reject) => this.queue.push({ records: [], bytes: 0, at: clock.now(), resolve, reject }));
      round.catch((err: unknown) => logger.warn('watermark markers not written; retried when due again', { topic: this.topic, error: errorMessage(err) }));
      this.pump(true);
    }, Math.max(0, due - clock.now()));
    this.timer = { cancel: () => handle.cancel(), at: due };
  }
}
