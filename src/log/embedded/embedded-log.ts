// The in-process partitioned log used when no Kafka is configured (`npm start` on a laptop). Same
// port, same consumer-group semantics as the Kafka adapter: keys map to partitions with Kafka's
// murmur2 partitioner, one owner per partition, ordered batches, committed offset = next offset
// to read, re-delivery from the last commit after a handler throws. With dataDir, records and
// committed offsets survive restarts (layout: <dataDir>/topics/<topic>/{topic.json,<p>.log},
// <dataDir>/groups/<group>.json, <dataDir>/LOCK). Everything is also held in memory: it is sized
// for one machine.

import { systemClock, type Clock } from '../../core/clock.js';
import { PmfError } from '../../core/errors.js';
import { once, stopAll, type Component } from '../../core/lifecycle.js';
import { EmbeddedConsumer } from './embedded-consumer.js';
import { lockDataDir, type DirLock } from './embedded-dir-lock.js';
import { EmbeddedGroup } from './embedded-group.js';
import { EmbeddedOffsetStore } from './embedded-offset-store.js';
import { EmbeddedProducer } from './embedded-producer.js';
import { EmbeddedTopicStore } from './embedded-topic-store.js';
import type { Logger } from '../../core/logger.js';
import type {
  BatchHandler,
  GroupConsumer,
  GroupConsumerOptions,
  LogProducer,
  PartitionBatch,
  PartitionedLog,
  TopicSpec,
} from '../partitioned-log.js';
import { defaultRetryBackoff, type RetryBackoff } from '../../core/retry-backoff.js';

export interface EmbeddedLogOptions {
  /** Keep records and committed offsets here; in memory only when absent. */
  dataDir?: string;
  /** fsync every append and commit before acknowledging (default false: survives a process crash, not a power cut). */
  fsync?: boolean;
  /** Most records per delivered batch (default 500). */
  maxBatchSize?: number;
  /** Delay before re-delivering after a handler throws (default 200 ms doubling to 10 s). */
  retryBackoff?: RetryBackoff;
  clock?: Clock;
  logger: Logger;
}

export class EmbeddedLog implements PartitionedLog {
  readonly kind = 'embedded' as const;
  private readonly store: EmbeddedTopicStore;
  private readonly offsets: EmbeddedOffsetStore;
  private readonly groups = new Map<string, EmbeddedGroup>();
  private readonly components = new Set<Component>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly maxBatchSize: number;
  private readonly retryBackoff: RetryBackoff;
  private readonly dataDir?: string;
  private lock?: DirLock;
  private closed = false;

  constructor(options: EmbeddedLogOptions) {
    const fsync = options.fsync ?? false;
    this.dataDir = options.dataDir;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.maxBatchSize = options.maxBatchSize ?? 500;
    this.retryBackoff = options.retryBackoff ?? defaultRetryBackoff;
    if (!Number.isInteger(this.maxBatchSize) || this.maxBatchSize < 1) {
      throw new PmfError('ERR_CONFIG_INVALID', 'embedded log: maxBatchSize must be an integer >= 1');
    }
    this.store = new EmbeddedTopicStore({ dataDir: options.dataDir, fsync, clock: this.clock });
    this.offsets = new EmbeddedOffsetStore({ dataDir: options.dataDir, fsync });
  }

  /** Loads the data directory once, on first use. */
  private readonly ready = once(async () => {
    if (this.dataDir !== undefined) this.lock = await lockDataDir(this.dataDir);
    await this.store.load();
    await this.offsets.load();
  });

  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    this.assertOpen();
    await this.ready();
    await this.store.ensure(topics);
  }

  producer(name: string): LogProducer {
    this.assertOpen();
    return this.track(new EmbeddedProducer(name, this.store, this.ready));
  }

  consumer(options: GroupConsumerOptions, handler: BatchHandler): GroupConsumer {
    this.assertOpen();
    if (options.topics.length === 0) throw new PmfError('ERR_CONFIG_INVALID', `consumer ${options.groupId}: no topics`);
    let group = this.groups.get(options.groupId);
    if (group === undefined) {
      group = new EmbeddedGroup(options.groupId, (topic) => this.store.partitionCount(topic) ?? 0);
      this.groups.set(options.groupId, group);
    }
    return this.track(
      new EmbeddedConsumer(options.groupId, options, handler, {
        store: this.store,
        offsets: this.offsets,
        group,
        ready: this.ready,
        clock: this.clock,
        logger: this.logger,
        maxBatchSize: this.maxBatchSize,
        retryBackoff: this.retryBackoff,
      }),
    );
  }

  /** Every record of the topic up to its end when called, partition by partition. */
  async *readAll(topic: string): AsyncIterable<PartitionBatch> {
    this.assertOpen();
    await this.ready();
    const partitions = this.store.partitionCount(topic);
    if (partitions === undefined) throw new PmfError('ERR_NOT_FOUND', `topic "${topic}" does not exist`);
    const ends = Array.from({ length: partitions }, (_, p) => this.store.end(topic, p));
    for (let partition = 0; partition < partitions; partition++) {
      for (let from = 0; from < ends[partition]; from += this.maxBatchSize) {
        const records = this.store.read(topic, partition, from, Math.min(this.maxBatchSize, ends[partition] - from));
        yield { topic, partition, records };
      }
    }
  }

  async endOffsets(topic: string): Promise<Map<number, string>> {
    this.assertOpen();
    await this.ready();
    const partitions = this.store.partitionCount(topic);
    if (partitions === undefined) throw new PmfError('ERR_NOT_FOUND', `topic "${topic}" does not exist`);
    return new Map(Array.from({ length: partitions }, (_, p) => [p, String(this.store.end(topic, p))] as const));
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  /** Stops every producer and consumer still running, then closes the files. */
  readonly close = once(async () => {
    this.closed = true;
    try {
      await stopAll([...this.components]);
    } finally {
      await this.offsets.close();
      await this.store.close();
      await this.lock?.release();
    }
  });

  private track<T extends Component>(component: T): T {
    this.components.add(component);
    return component;
  }

  private assertOpen(): void {
    if (this.closed) throw new PmfError('ERR_STOPPED', 'embedded log is closed');
  }
}
