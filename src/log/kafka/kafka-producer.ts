// LogProducer on kafkajs. acks=all, idempotence off (experimental in kafkajs; duplicates are
// removed downstream by event id). A send resolves only after the broker ack and rejects with a
// retryable ERR_LOG_UNAVAILABLE within sendTimeoutMs when no broker answers, so the receiver can
// tell its client to retry. start() does not fail when the broker is down: the connection is
// retried on each send, and once connected kafkajs reconnects by itself.
//
// Each topic gets a kafkajs producer of its own, so its own broker connection: a broker handles
// one request per connection at a time, so on a shared connection a small urgent send (a step
// snapshot, a rollback command) waits behind every large events batch the receiver has in flight.
// Sends to one topic keep one connection, so their order is as before; an urgent send (a rollback's
// evidence verdict, its command) has a second connection for its topic, so it does not wait behind
// the same topic's bulk sends either: at 100 live features the verdict stage's other partitions
// publish ~200 heartbeat verdicts per step on the verdicts topic, and the evidence queued behind them.

import type { Kafka, Producer } from 'kafkajs';
import kafkajs from 'kafkajs';
import type { Clock } from '../../core/clock.js';
import { PmfError, errorMessage } from '../../core/errors.js';
import { once } from '../../core/lifecycle.js';
import { withDeadline } from './deadline.js';
import { fromKafkaError } from './kafka-errors.js';
import type { Logger } from '../../core/logger.js';
import type { LogProducer, LogRecord, SendOptions } from '../partitioned-log.js';

export interface KafkaProducerSettings {
  sendTimeoutMs: number;
  clock: Clock;
  logger: Logger;
}

export class KafkaProducer implements LogProducer {
  private phase: 'new' | 'running' | 'stopped' = 'new';
  /** One kafkajs producer per topic (and one more for its urgent sends), made at the first send to it. */
  private readonly lanes = new Map<string, Lane>();
  /** Connected at start, to say early when the broker is unreachable; it becomes the first topic's lane. */
  private spare?: Lane;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    readonly name: string,
    private readonly newProducer: () => Producer,
    private readonly settings: KafkaProducerSettings,
  ) {}

  static create(name: string, kafka: Kafka, settings: KafkaProducerSettings): KafkaProducer {
    const make = () =>
      kafka.producer({
        allowAutoTopicCreation: false,
        idempotent: false,
        // Java-compatible murmur2, the same function as the embedded log's partitionForKey.
        createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
      });
    return new KafkaProducer(name, make, settings);
  }

  async start(): Promise<void> {
    if (this.phase === 'stopped') throw new PmfError('ERR_STOPPED', `producer ${this.name} was stopped`);
    if (this.phase === 'running') return;
    this.phase = 'running';
    this.spare = new Lane(this.newProducer());
    try {
      await this.spare.connect();
    } catch (err) {
      this.settings.logger.warn('kafka producer could not connect yet; each send retries the connection', {
        producer: this.name,
        error: errorMessage(err),
      });
    }
  }

  async send(topic: string, records: LogRecord[], options?: SendOptions): Promise<void> {
    if (this.phase !== 'running') {
      throw new PmfError('ERR_STOPPED', `producer ${this.name} is ${this.phase === 'new' ? 'not started' : 'stopped'}`);
    }
    if (records.length === 0) return;
    const lane = this.lane(options?.urgent ? `${topic}\u0000urgent` : topic);
    const attempt = (async () => {
      await lane.connect();
      // One produce request per chunk, in order: a whole OTLP request in one call can exceed the
      // broker's message.max.bytes for a partition's batch, which Kafka refuses for good.
      for (const chunk of chunksBySize(records, MAX_REQUEST_BYTES)) {
        await lane.producer.send({ topic, acks: -1, messages: chunk.map((r) => (r.partition === undefined ? { key: r.key, value: r.value } : { key: r.key, value: r.value, partition: r.partition })) });
      }
    })();
    this.inFlight.add(attempt);
    attempt.then(
      () => this.inFlight.delete(attempt),
      () => this.inFlight.delete(attempt),
    );
    const { sendTimeoutMs, clock } = this.settings;
    try {
      await withDeadline(attempt, sendTimeoutMs, clock, () =>
        new PmfError('ERR_LOG_UNAVAILABLE', `send to ${topic}: no broker ack within ${sendTimeoutMs} ms`, { retryable: true }),
      );
    } catch (err) {
      throw fromKafkaError(err, `send to ${topic}`, 'ERR_LOG_PRODUCE');
    }
  }

  /** Stops accepting sends, lets those in flight settle, then disconnects. */
  readonly stop = once(async () => {
    const wasRunning = this.phase === 'running';
    this.phase = 'stopped';
    if (!wasRunning) return;
    await Promise.allSettled([...this.inFlight]);
    const lanes = [...this.lanes.values(), ...(this.spare ? [this.spare] : [])];
    await Promise.all(lanes.map((l) => l.producer.disconnect()));
  });

  private lane(name: string): Lane {
    let lane = this.lanes.get(name);
    if (lane === undefined) {
      lane = this.spare ?? new Lane(this.newProducer());
      this.spare = undefined;
      this.lanes.set(name, lane);
    }
    return lane;
  }
}

/** A kafkajs producer and its connection, retried at each send until it succeeds once. */
class Lane {
  private connecting?: Promise<void>;

  constructor(readonly producer: Producer) {}

  connect(): Promise<void> {
    this.connecting ??= this.producer.connect().catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }
}

/** Kept well under the broker's default message.max.bytes (1 MiB) per produce request. */
const MAX_REQUEST_BYTES = 512 * 1024;

export function chunksBySize(records: readonly LogRecord[], maxBytes: number): LogRecord[][] {
  const out: LogRecord[][] = [];
  let chunk: LogRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = r.value.length + Buffer.byteLength(r.key) + 64; // + record overhead
    if (chunk.length > 0 && bytes + size > maxBytes) {
      out.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(r);
    bytes += size;
  }
  if (chunk.length > 0) out.push(chunk);
  return out;
}
