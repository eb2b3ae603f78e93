// One member of an embedded consumer group. A single loop per member delivers batches of its
// owned partitions in offset order, round-robin across partitions, and only ever one batch at a
// time, like a kafkajs consumer with partitionsConsumedConcurrently = 1. Positions restart from
// the committed offset after every rebalance and after a failed batch, as in Kafka.

import type { Clock } from '../../core/clock.js';
import { PmfError, errorMessage } from '../../core/errors.js';
import { once } from '../../core/lifecycle.js';
import type { EmbeddedGroup, GroupMember } from './embedded-group.js';
import type { EmbeddedOffsetStore } from './embedded-offset-store.js';
import type { EmbeddedTopicStore } from './embedded-topic-store.js';
import type { Logger } from '../../core/logger.js';
import type {
  BatchHandler,
  GroupConsumer,
  GroupConsumerOptions,
  TopicPartition,
  TopicPartitionOffset,
} from '../partitioned-log.js';
import { retryDelayMs, type RetryBackoff } from '../../core/retry-backoff.js';

export interface EmbeddedConsumerDeps {
  store: EmbeddedTopicStore;
  offsets: EmbeddedOffsetStore;
  group: EmbeddedGroup;
  ready: () => Promise<void>;
  clock: Clock;
  logger: Logger;
  maxBatchSize: number;
  retryBackoff: RetryBackoff;
  /** A group's position fell below the log start: retention deleted records it had not read. */
  onRetentionGap: (gap: { groupId: string; topic: string; partition: number; from: number; start: number }) => void;
}

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;
const OFFSET = /^(0|[1-9][0-9]*)$/;

export class EmbeddedConsumer implements GroupConsumer, GroupMember {
  readonly memberId: string;
  readonly topics: readonly string[];
  private phase: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private starting?: Promise<void>;
  private loop?: Promise<void>;
  private unsubscribe?: () => void;

  private owned: TopicPartition[] = [];
  private readonly ownedKeys = new Set<string>();
  /** Next offset to deliver per owned partition. */
  private readonly positions = new Map<string, number>();
  /** Where a partition without a committed offset restarts (the auto.offset.reset position). */
  private readonly resetPositions = new Map<string, number>();
  private assignmentPending = false;
  private paused = true;
  private cursor = 0;

  private failures = 0;
  private retryAt?: number;
  private retryTimer?: { cancel(): void };

  /** The batch or onAssignment call in progress; a rebalance waits for it. */
  private step: Promise<void> = Promise.resolve();
  private woken = false;
  private wakeUp?: () => void;

  constructor(
    readonly name: string,
    private readonly options: GroupConsumerOptions,
    private readonly handler: BatchHandler,
    private readonly deps: EmbeddedConsumerDeps,
  ) {
    this.memberId = deps.group.nextMemberId(name);
    this.topics = [...new Set(options.topics)];
  }

  start(): Promise<void> {
    return (this.starting ??= this.join());
  }

  private async join(): Promise<void> {
    if (this.phase !== 'new') throw new PmfError('ERR_STOPPED', `consumer ${this.name} was stopped`);
    await this.deps.ready();
    for (const topic of this.topics) {
      if (this.deps.store.partitionCount(topic) === undefined) {
        throw new PmfError('ERR_NOT_FOUND', `topic "${topic}" does not exist; create it with ensureTopics`);
      }
    }
    this.phase = 'running';
    this.unsubscribe = this.deps.store.onAppend((topic, partition) => {
      if (this.ownedKeys.has(tpKey(topic, partition))) this.notify();
    });
    this.loop = this.run();
    await this.deps.group.join(this);
  }

  /** Finishes the in-flight batch, then leaves the group (its partitions go to the others). */
  readonly stop = once(async () => {
    await this.starting?.catch(() => undefined);
    if (this.phase !== 'running') {
      this.phase = 'stopped';
      return;
    }
    this.phase = 'stopping';
    this.notify();
    await this.loop;
    // From here on its commits are refused: the partitions are about to move.
    this.ownedKeys.clear();
    this.retryTimer?.cancel();
    this.unsubscribe?.();
    await this.deps.group.leave(this);
    this.phase = 'stopped';
  });

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    if (this.phase !== 'running' && this.phase !== 'stopping') {
      throw new PmfError('ERR_STOPPED', `consumer ${this.name} is not running`);
    }
    for (const o of offsets) {
      if (!OFFSET.test(o.offset)) {
        throw new PmfError('ERR_INTERNAL', `commit ${o.topic}[${o.partition}]: offset "${o.offset}" is not a non-negative integer`);
      }
      // Stricter than Kafka (which checks only the generation): a revoked partition's commit
      // could move its new owner's offset backwards.
      if (!this.ownedKeys.has(tpKey(o.topic, o.partition))) {
        throw new PmfError(
          'ERR_LOG_UNAVAILABLE',
          `commit ${o.topic}[${o.partition}]: partition is not owned by ${this.memberId} (revoked by a rebalance)`,
        );
      }
    }
    await this.deps.offsets.commit(this.options.groupId, offsets);
  }

  async revoke(): Promise<void> {
    this.paused = true;
    this.notify();
    await this.step;
    this.owned = [];
    this.ownedKeys.clear();
    this.positions.clear();
    this.resetPositions.clear();
  }

  assign(owned: TopicPartition[]): void {
    const { store, offsets } = this.deps;
    this.owned = owned;
    for (const { topic, partition } of owned) {
      const key = tpKey(topic, partition);
      this.ownedKeys.add(key);
      const reset = this.options.fromBeginning ? store.start(topic, partition) : store.end(topic, partition);
      const committed = offsets.committed(this.options.groupId, topic, partition);
      if (committed === undefined || committed > store.end(topic, partition)) {
        this.resetPositions.set(key, reset);
        this.positions.set(key, reset);
      } else {
        this.positions.set(key, committed);
      }
    }
    this.assignmentPending = true;
    this.paused = false;
    this.cursor = 0;
    this.failures = 0;
    this.retryAt = undefined;
    this.notify();
  }

  private async run(): Promise<void> {
    while (this.phase === 'running') {
      const work = this.nextWork();
      if (work === undefined) {
        await this.waitForWake();
        continue;
      }
      this.step = work();
      await this.step;
    }
  }

  private nextWork(): (() => Promise<void>) | undefined {
    if (this.paused) return undefined;
    if (this.retryAt !== undefined) {
      const wait = this.retryAt - this.deps.clock.now();
      if (wait > 0) {
        this.retryTimer?.cancel();
        this.retryTimer = this.deps.clock.setTimeout(() => this.notify(), wait);
        return undefined;
      }
      this.retryAt = undefined;
    }
    if (this.assignmentPending) return () => this.acceptAssignment();
    const n = this.owned.length;
    for (let i = 0; i < n; i++) {
      const tp = this.owned[(this.cursor + i) % n];
      if (this.positions.get(tpKey(tp.topic, tp.partition))! < this.deps.store.end(tp.topic, tp.partition)) {
        this.cursor = (this.cursor + i + 1) % n;
        return () => this.deliver(tp);
      }
    }
    return undefined;
  }

  private async acceptAssignment(): Promise<void> {
    try {
      await this.handler.onAssignment?.(this.owned.map((tp) => ({ ...tp })));
      this.assignmentPending = false;
      this.failures = 0;
    } catch (err) {
      this.backOff(err, { during: 'onAssignment' });
    }
  }

  private async deliver({ topic, partition }: TopicPartition): Promise<void> {
    const key = tpKey(topic, partition);
    let from = this.positions.get(key)!;
    const start = this.deps.store.start(topic, partition);
    if (from < start) {
      // Kafka's auto.offset.reset=earliest for an offset out of range, made loud: those records are gone.
      this.deps.onRetentionGap({ groupId: this.options.groupId, topic, partition, from, start });
      this.positions.set(key, (from = start));
    }
    let records;
    try {
      records = await this.deps.store.read(topic, partition, from, this.deps.maxBatchSize);
    } catch (err) {
      this.backOff(err, { during: 'read', topic, partition, offset: String(from) });
      return;
    }
    // Retention may have deleted the segment while it was being read, and the read went on to the
    // next one: that gap is counted too.
    const startAfter = this.deps.store.start(topic, partition);
    const first = records.length > 0 ? Number(records[0].offset) : startAfter;
    if (from < startAfter && first > from) {
      this.deps.onRetentionGap({ groupId: this.options.groupId, topic, partition, from, start: Math.min(startAfter, first) });
    }
    if (records.length === 0) {
      // Only holes left before the end (compacted away): nothing to deliver until new appends.
      this.positions.set(key, this.deps.store.end(topic, partition));
      return;
    }
    try {
      await this.handler.handleBatch({ topic, partition, records }, async () => undefined);
      // Offsets can have holes (compaction): the next one to read follows the last delivered.
      this.positions.set(key, Number(records[records.length - 1].offset) + 1);
      this.failures = 0;
    } catch (err) {
      const committed = this.deps.offsets.committed(this.options.groupId, topic, partition);
      this.positions.set(key, committed ?? this.resetPositions.get(key)!);
      this.backOff(err, { during: 'handleBatch', topic, partition, offset: String(from) });
    }
  }

  private backOff(err: unknown, fields: Record<string, unknown>): void {
    this.failures++;
    const delayMs = retryDelayMs(this.failures, this.deps.retryBackoff);
    this.retryAt = this.deps.clock.now() + delayMs;
    this.deps.logger.warn('log handler failed; re-delivering from the last commit', {
      groupId: this.options.groupId,
      member: this.memberId,
      ...fields,
      attempt: this.failures,
      retryInMs: delayMs,
      error: errorMessage(err),
      code: err instanceof PmfError ? err.code : undefined,
    });
  }

  private waitForWake(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.wakeUp = () => {
        this.wakeUp = undefined;
        resolve();
      };
    });
  }

  private notify(): void {
    if (this.wakeUp) this.wakeUp();
    else this.woken = true;
  }
}
