// The in-process partitioned log used when no Kafka is configured (`npm start` on a laptop). Same
// port, same consumer-group semantics as the Kafka adapter: keys map to partitions with Kafka's
// murmur2 partitioner, one owner per partition, ordered batches, committed offset = next offset
// to read, re-delivery from the last commit after a handler throws. With dataDir, records and
// committed offsets survive restarts (layout: <dataDir>/topics/<topic>/{topic.json,<p>/<base>.log},
// <dataDir>/groups/<group>.json, <dataDir>/LOCK). Records stay in the segment files; memory holds
// only sparse indexes. Retention (time, size, compaction) runs on a timer of the injected clock.

import { systemClock, type Clock } from '../../core/clock.js';
import { errorMessage, PmfError } from '../../core/errors.js';
import { once, stopAll, type Component } from '../../core/lifecycle.js';
import { EmbeddedConsumer } from './embedded-consumer.js';
import { lockDataDir, type DirLock } from './embedded-dir-lock.js';
import { EmbeddedGroup } from './embedded-group.js';
import { EmbeddedOffsetStore } from './embedded-offset-store.js';
import { EmbeddedProducer } from './embedded-producer.js';
import { EmbeddedTopicStore, type TopicUsage } from './embedded-topic-store.js';
import type { OpenSegmentIo } from './file-segment.js';
import type { FsyncPolicy, PartitionPolicy } from './partition-log.js';
import type { StoredRecord } from './record-codec.js';
import type { Logger } from '../../core/logger.js';
import type {
  RetentionGaps,
  BatchHandler,
  GroupConsumer,
  GroupConsumerOptions,
  LogProducer,
  PartitionBatch,
  PartitionedLog,
  TopicSpec,
} from '../partitioned-log.js';
import { defaultRetryBackoff, type RetryBackoff } from '../../core/retry-backoff.js';

/** How long a topic's records are kept; each field absent = that limit off. */
export interface TopicRetention {
  retentionMs?: number;
  /** For the whole topic (split evenly over its partitions). */
  retentionBytes?: number;
  segmentBytes?: number;
  segmentMs?: number;
  /** Compacted topic: keep only the newest record per this key (null = keep the record). */
  compactionKey?: (record: { key: string | null; value: Buffer }) => string | null;
}

export interface EmbeddedLogStats {
  retentionSegmentsDeleted: number;
  retentionRecordsDeleted: number;
  recordsCompacted: number;
  /** Records a consumer group never read because retention deleted them first. */
  recordsSkippedByRetention: number;
  maintenanceFailures: number;
  fsyncFailures: number;
  topics: TopicUsage[];
}

export interface EmbeddedLogOptions {
  /** Keep records and committed offsets here; in memory only when absent. */
  dataDir?: string;
  /**
   * When appends and commits reach the disk (default 'always'). always: fdatasync before the send
   * resolves (concurrent sends share one), nothing acknowledged is lost. interval: every
   * fsyncIntervalMs, a power cut or kernel crash loses up to that much. never: the OS decides (about
   * 30 s on Linux). A crash of the process alone loses nothing acknowledged under any policy.
   */
  fsync?: FsyncPolicy;
  /** For fsync 'interval' (default 1000 ms). */
  fsyncIntervalMs?: number;
  /** Retention per topic name; topics not listed keep everything. */
  retention?: Readonly<Record<string, TopicRetention>>;
  /** How often retention and compaction run (default 60 s). */
  retentionCheckIntervalMs?: number;
  /** Most records per delivered batch (default 500). */
  maxBatchSize?: number;
  /** Tests substitute failing file writes. */
  openSegmentIo?: OpenSegmentIo;
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
  private readonly fsync: FsyncPolicy;
  private readonly fsyncIntervalMs: number;
  private readonly retentionCheckIntervalMs: number;
  private timers: { cancel(): void }[] = [];
  private background = new Set<Promise<void>>();
  private readonly counters = {
    retentionSegmentsDeleted: 0,
    retentionRecordsDeleted: 0,
    recordsCompacted: 0,
    recordsSkippedByRetention: 0,
    maintenanceFailures: 0,
    fsyncFailures: 0,
  };
  private readonly gaps: RetentionGaps = { gaps: new Map(), recordsLost: new Map() };

  constructor(options: EmbeddedLogOptions) {
    const fsync = (this.fsync = options.fsync ?? 'always');
    this.fsyncIntervalMs = options.fsyncIntervalMs ?? 1000;
    this.retentionCheckIntervalMs = options.retentionCheckIntervalMs ?? 60_000;
    this.dataDir = options.dataDir;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.maxBatchSize = options.maxBatchSize ?? 500;
    this.retryBackoff = options.retryBackoff ?? defaultRetryBackoff;
    if (!Number.isInteger(this.maxBatchSize) || this.maxBatchSize < 1) {
      throw new PmfError('ERR_CONFIG_INVALID', 'embedded log: maxBatchSize must be an integer >= 1');
    }
    if (!(this.fsyncIntervalMs > 0) || !(this.retentionCheckIntervalMs > 0)) {
      throw new PmfError('ERR_CONFIG_INVALID', 'embedded log: fsyncIntervalMs and retentionCheckIntervalMs must be > 0');
    }
    const retention = options.retention ?? {};
    this.store = new EmbeddedTopicStore({
      dataDir: options.dataDir,
      fsync,
      clock: this.clock,
      policyFor: (topic) => partitionPolicy(retention[topic]),
      maxBatchBytes: 1024 * 1024,
      openSegmentIo: options.openSegmentIo,
    });
    this.offsets = new EmbeddedOffsetStore({ dataDir: options.dataDir, fsync: fsync === 'always' });
  }

  /** Loads the data directory once, on first use, and starts the retention and fsync timers. */
  private readonly ready = once(async () => {
    if (this.dataDir !== undefined) this.lock = await lockDataDir(this.dataDir);
    await this.store.load();
    await this.offsets.load();
    this.every(this.retentionCheckIntervalMs, () => this.runMaintenance());
    if (this.fsync === 'interval') {
      this.every(this.fsyncIntervalMs, () =>
        this.store.sync().catch((err) => {
          this.counters.fsyncFailures++;
          this.logger.error('embedded log fsync failed; records since the last sync may not survive a power cut', { error: errorMessage(err) });
        }),
      );
    }
  });

  /** One retention and compaction pass over every partition (also run by the timer). */
  async runMaintenance(): Promise<void> {
    try {
      const r = await this.store.maintain((topic, partition) => this.offsets.lowestCommitted(topic, partition));
      this.counters.retentionSegmentsDeleted += r.segmentsDeleted;
      this.counters.retentionRecordsDeleted += r.recordsDeleted;
      this.counters.recordsCompacted += r.recordsCompacted;
    } catch (err) {
      this.counters.maintenanceFailures++;
      this.logger.error('embedded log retention failed; retried at the next interval', { error: errorMessage(err) });
    }
  }

  private every(ms: number, task: () => Promise<void>): void {
    const tick = () => {
      if (this.closed) return;
      const run = task().finally(() => {
        this.background.delete(run);
        this.timers = this.timers.filter((t) => t !== timer);
        if (!this.closed) this.every(ms, task);
      });
      this.background.add(run);
    };
    const timer = this.clock.setTimeout(tick, ms);
    this.timers.push(timer);
  }

  /** The same gap accounting as the Kafka adapter's (pmf_log_retention_gaps_total, pmf_log_records_lost_total). */
  retentionGaps(): RetentionGaps {
    return { gaps: new Map(this.gaps.gaps), recordsLost: new Map(this.gaps.recordsLost) };
  }

  stats(): EmbeddedLogStats {
    return { ...this.counters, topics: this.store.usage() };
  }

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
        onRetentionGap: ({ groupId, topic, partition, from, start }) => {
          this.counters.recordsSkippedByRetention += start - from;
          this.gaps.gaps.set(topic, (this.gaps.gaps.get(topic) ?? 0) + 1);
          this.gaps.recordsLost.set(topic, (this.gaps.recordsLost.get(topic) ?? 0) + start - from);
          this.logger.warn('records deleted by retention before this group read them; continuing at the log start', {
            groupId,
            topic,
            partition,
            from,
            logStart: start,
            skipped: start - from,
          });
        },
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
      let from = this.store.start(topic, partition);
      while (from < ends[partition]) {
        const read = await this.store.read(topic, partition, from, this.maxBatchSize);
        const records = read.filter((r) => Number(r.offset) < ends[partition]);
        if (records.length === 0) break;
        yield { topic, partition, records };
        from = Number(records[records.length - 1].offset) + 1;
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
    for (const t of this.timers) t.cancel();
    try {
      await stopAll([...this.components]);
      await Promise.allSettled([...this.background]);
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

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const DEFAULT_SEGMENT_MS = 60 * 60 * 1000;

function partitionPolicy(r: TopicRetention | undefined): PartitionPolicy {
  const key = r?.compactionKey;
  return {
    retentionMs: r?.retentionMs,
    retentionBytes: r?.retentionBytes,
    segmentBytes: r?.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
    segmentMs: r?.segmentMs ?? DEFAULT_SEGMENT_MS,
    compactionKey: key && ((record: StoredRecord) => key(record)),
  };
}
