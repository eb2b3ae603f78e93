// GroupConsumer on a kafkajs consumer. Offsets move only through commit(): autoCommit is off and
// eachBatchAutoResolve is off; a processed chunk is "resolved" (kafkajs' fetch position), never
// committed. kafkajs on its own would re-fetch a failed batch from the last *resolved* offset, so
// a handler error seeks the partition back to the last *committed* offset (or, before any commit,
// to where this generation started reading it) and backs off through the injected Clock.
// Big kafkajs batches are split into chunks of maxBatchSize.

import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Clock } from '../../core/clock.js';
import { PmfError, errorMessage } from '../../core/errors.js';
import { once } from '../../core/lifecycle.js';
import { fromKafkaError } from './kafka-errors.js';
import type { Logger } from '../../core/logger.js';
import type {
  BatchHandler,
  ConsumedRecord,
  GroupConsumer,
  GroupConsumerOptions,
  TopicPartition,
  TopicPartitionOffset,
} from '../partitioned-log.js';
import { retryDelayMs, type RetryBackoff } from '../../core/retry-backoff.js';

export interface KafkaConsumerSettings {
  clientId: string;
  maxBatchSize: number;
  retryBackoff: RetryBackoff;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  maxWaitTimeMs: number;
  clock: Clock;
  logger: Logger;
  /** Compares the group's committed offsets with the log start after each assignment (retention-gap-monitor.ts). */
  checkLogStart?: (groupId: string, owned: readonly TopicPartition[]) => Promise<void>;
}

interface Assignment {
  owned: TopicPartition[];
  /** Set once handler.onAssignment resolved for this generation. */
  accepted: boolean;
  pending?: Promise<void>;
}

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export class KafkaGroupConsumer implements GroupConsumer {
  readonly name: string;
  private readonly consumer: Consumer;
  private phase: 'new' | 'running' | 'stopped' = 'new';
  private starting?: Promise<void>;
  private assignment: Assignment = { owned: [], accepted: true };
  private readonly ownedKeys = new Set<string>();
  /** Where a failed partition is re-read from: its last commit, else this generation's first offset. */
  private readonly restartOffsets = new Map<string, string>();
  private crashed = false;
  private failures = 0;
  private readonly sleepers = new Set<() => void>();

  constructor(
    kafka: Kafka,
    private readonly options: GroupConsumerOptions,
    private readonly handler: BatchHandler,
    private readonly settings: KafkaConsumerSettings,
  ) {
    this.name = options.groupId;
    const { logger } = settings;
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: settings.heartbeatIntervalMs,
      maxWaitTimeInMs: settings.maxWaitTimeMs,
      retry: {
        // A crash (kafkajs gave up retrying, e.g. the broker was gone for a while) restarts the
        // consumer, which re-joins the group and resumes from the committed offsets.
        restartOnFailure: async (err: Error) => {
          logger.error('kafka consumer crashed; restarting it', { groupId: options.groupId, error: errorMessage(err) });
          return true;
        },
      },
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => this.onGroupJoin(event.payload.memberAssignment));
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      this.crashed = true;
      logger.error('kafka consumer crash', {
        groupId: event.payload.groupId,
        error: errorMessage(event.payload.error),
        restart: event.payload.restart,
      });
    });
  }

  get heartbeatIntervalMs(): number {
    return this.settings.heartbeatIntervalMs;
  }

  start(): Promise<void> {
    return (this.starting ??= this.run());
  }

  private async run(): Promise<void> {
    if (this.phase !== 'new') throw new PmfError('ERR_STOPPED', `consumer ${this.name} was stopped`);
    this.phase = 'running';
    try {
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: this.options.topics, fromBeginning: this.options.fromBeginning });
      await this.consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: (payload) => this.eachBatch(payload),
      });
    } catch (err) {
      await this.consumer.disconnect().catch((disconnectErr: unknown) =>
        this.settings.logger.warn('kafka consumer disconnect after a failed start failed', {
          groupId: this.options.groupId,
          error: errorMessage(disconnectErr),
        }),
      );
      this.phase = 'stopped';
      throw fromKafkaError(err, `start consumer ${this.name}`, 'ERR_LOG_UNAVAILABLE');
    }
  }

  /** Finishes the in-flight chunk, leaves the group, disconnects. */
  readonly stop = once(async () => {
    await this.starting?.catch(() => undefined);
    const wasRunning = this.phase === 'running';
    this.phase = 'stopped';
    for (const wake of this.sleepers) wake();
    if (!wasRunning) return;
    await this.consumer.stop();
    await this.consumer.disconnect();
  });

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    if (this.phase !== 'running') throw new PmfError('ERR_STOPPED', `consumer ${this.name} is not running`);
    // kafkajs silently skips a commit while its runner is down (between a crash and the restart).
    if (this.crashed) {
      throw new PmfError('ERR_LOG_UNAVAILABLE', `commit for ${this.name}: consumer is restarting after a crash`, {
        retryable: true,
      });
    }
    try {
      await this.consumer.commitOffsets(offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })));
    } catch (err) {
      throw fromKafkaError(err, `commit for ${this.name}`, 'ERR_LOG_UNAVAILABLE');
    }
    for (const o of offsets) {
      if (this.ownedKeys.has(tpKey(o.topic, o.partition))) this.restartOffsets.set(tpKey(o.topic, o.partition), o.offset);
    }
  }

  private onGroupJoin(memberAssignment: Record<string, number[]>): void {
    this.crashed = false;
    const owned = Object.entries(memberAssignment).flatMap(([topic, partitions]) =>
      partitions.map((partition) => ({ topic, partition })),
    );
    owned.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
    this.ownedKeys.clear();
    for (const tp of owned) this.ownedKeys.add(tpKey(tp.topic, tp.partition));
    // kafkajs re-reads committed offsets after every join, so restart points start over too.
    this.restartOffsets.clear();
    this.failures = 0;
    this.assignment = { owned, accepted: false };
    // Told right away (an idle member must still learn about revocations); batches wait for it.
    this.acceptAssignment().catch(() => undefined);
  }

  private acceptAssignment(): Promise<void> {
    const assignment = this.assignment;
    if (assignment.accepted) return Promise.resolve();
    assignment.pending ??= (async () => {
      try {
        // Before any batch of this generation: once records are committed past a gap, it is gone.
        await this.settings.checkLogStart?.(this.options.groupId, assignment.owned).catch((err: unknown) =>
          this.settings.logger.warn('could not compare committed offsets with the log start', { groupId: this.options.groupId, error: errorMessage(err) }),
        );
        await this.handler.onAssignment?.(assignment.owned.map((tp) => ({ ...tp })));
        assignment.accepted = true;
      } catch (err) {
        assignment.pending = undefined;
        this.settings.logger.warn('onAssignment failed; retried before the next batch', {
          groupId: this.options.groupId,
          error: errorMessage(err),
        });
        throw err;
      }
    })();
    return assignment.pending;
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const key = tpKey(topic, partition);
    const messages = batch.messages;
    if (messages.length === 0 || !isRunning() || isStale()) return;
    if (!this.restartOffsets.has(key)) this.restartOffsets.set(key, messages[0].offset);
    // The partition's high watermark when fetched: past the fetch's last record, the consumer is
    // reading a backlog (the fetch was cut at its size limit), not the live tail.
    const catchingUp = BigInt(batch.highWatermark) > BigInt(messages[messages.length - 1].offset) + 1n;
    for (let i = 0; i < messages.length; i += this.settings.maxBatchSize) {
      if (!isRunning() || isStale() || this.phase !== 'running') return;
      const chunk = messages.slice(i, i + this.settings.maxBatchSize);
      try {
        await this.acceptAssignment();
        await this.handler.handleBatch({ topic, partition, records: chunk.map((m) => toConsumed(partition, m)), catchingUp }, heartbeat);
      } catch (err) {
        // Not resolving the offset is not enough: kafkajs would re-fetch from the last resolved
        // offset. Seek back to the last commit, so re-delivery matches the embedded log.
        const restartAt = this.restartOffsets.get(key)!;
        this.consumer.seek({ topic, partition, offset: restartAt });
        // A kafkajs error here comes from heartbeat() (typically "rebalancing"): kafkajs must see
        // it to re-join, and the re-join resets positions to the commits anyway.
        if (err instanceof Error && err.name.startsWith('KafkaJS')) throw err;
        this.failures++;
        const delayMs = retryDelayMs(this.failures, this.settings.retryBackoff);
        this.settings.logger.warn('log handler failed; re-delivering from the last commit', {
          groupId: this.options.groupId,
          topic,
          partition,
          offset: chunk[0].offset,
          restartAt,
          attempt: this.failures,
          retryInMs: delayMs,
          error: errorMessage(err),
          code: err instanceof PmfError ? err.code : undefined,
        });
        await this.sleep(delayMs);
        return;
      }
      this.failures = 0;
      resolveOffset(chunk[chunk.length - 1].offset);
      await heartbeat();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        timer.cancel();
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = this.settings.clock.setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }
}

function toConsumed(partition: number, m: KafkaMessage): ConsumedRecord {
  return {
    partition,
    offset: m.offset,
    key: m.key === null || m.key === undefined ? null : m.key.toString('utf8'),
    value: m.value ?? Buffer.alloc(0),
    timestamp: Number(m.timestamp),
  };
}
