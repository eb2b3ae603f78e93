// Runs a stateful stage over a consumer group with an exactly-once effect that does not rest on
// Kafka transactions (kafkajs cannot fence zombies, see reference/reliability.md section 2):
//  1. a partition's state is restored from its checkpoint when the partition is first seen;
//  2. records below the checkpoint offset are skipped (the committed Kafka offset may lag it);
//  3. at each flush: publish outputs (await acks) → save state + offset → commit the offset.
// A crash between 1–3 replays records onto the last checkpoint; outputs are cumulative snapshots
// or carry deterministic ids, so publishing them twice is harmless.

import type { Clock } from '../core/clock.js';
import { PmfError, errorMessage } from '../core/errors.js';
import { once, type Component } from '../core/lifecycle.js';
import type { GroupConsumer, LogProducer, PartitionBatch, PartitionedLog, TopicPartition } from '../log/partitioned-log.js';
import type { CheckpointStore } from './checkpoint-store.js';
import type { Output, PartitionProcessor, ProcessorFactory } from './partition-processor.js';

export interface StatefulRunnerOptions {
  name: string;
  log: PartitionedLog;
  producer: LogProducer;
  store: CheckpointStore;
  factory: ProcessorFactory;
  groupId: string;
  inputTopic: string;
  checkpointIntervalMs: number;
  clock: Clock;
  onError?: (err: unknown, context: string) => void;
}

interface Owned {
  processor: PartitionProcessor;
  /** Next offset to read, as a bigint for comparisons. */
  next: bigint;
  checkpointed: bigint;
  dirty: boolean;
  lastFlush: number;
  /** Outputs taken from the processor but not yet acknowledged by the log; retried at the next flush. */
  pending: Output[];
}

export interface RunnerStats {
  recordsApplied: number;
  recordsSkippedBelowCheckpoint: number;
  recordsRejected: number;
  checkpoints: number;
  ownedPartitions: number;
}

export class StatefulRunner implements Component {
  readonly name: string;
  private consumer?: GroupConsumer;
  private readonly owned = new Map<number, Owned>();
  /** One flush or batch at a time per runner: keeps the timer and the batch handler apart. */
  private chain: Promise<unknown> = Promise.resolve();
  private timer?: { cancel(): void };
  private stopping = false;
  readonly stats: RunnerStats = { recordsApplied: 0, recordsSkippedBelowCheckpoint: 0, recordsRejected: 0, checkpoints: 0, ownedPartitions: 0 };

  constructor(private readonly o: StatefulRunnerOptions) {
    this.name = o.name;
  }

  /** Access for the admin API and tests. */
  processors(): ReadonlyMap<number, PartitionProcessor> {
    return new Map([...this.owned].map(([p, o]) => [p, o.processor]));
  }

  async start(): Promise<void> {
    this.consumer = this.o.log.consumer(
      { groupId: this.o.groupId, topics: [this.o.inputTopic], fromBeginning: true },
      {
        onAssignment: (owned) => this.serial(() => this.onAssignment(owned)),
        handleBatch: (batch, heartbeat) => this.serial(() => this.handleBatch(batch, heartbeat)),
      },
    );
    await this.consumer.start();
    this.schedule();
  }

  readonly stop = once(async () => {
    this.stopping = true;
    this.timer?.cancel();
    // Stopping the consumer waits for the in-flight batch; then the last flush makes the
    // work done so far durable, so a clean restart replays nothing.
    await this.consumer?.stop();
    await this.serial(() => this.flushAll(true));
  });

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private schedule(): void {
    if (this.stopping) return;
    this.timer = this.o.clock.setTimeout(() => {
      this.serial(() => this.flushAll(false))
        .catch((err) => this.o.onError?.(err, `${this.name}: periodic flush`))
        .finally(() => this.schedule());
    }, this.o.checkpointIntervalMs);
  }

  private async onAssignment(owned: TopicPartition[]): Promise<void> {
    const keep = new Set(owned.filter((tp) => tp.topic === this.o.inputTopic).map((tp) => tp.partition));
    for (const p of [...this.owned.keys()]) {
      // A revoked partition's unflushed work is dropped, not flushed: the new owner may already
      // be processing it from the checkpoint, and the offset guard would refuse us anyway.
      if (!keep.has(p)) this.owned.delete(p);
    }
    this.stats.ownedPartitions = this.owned.size;
  }

  private async ensureOwned(partition: number): Promise<Owned> {
    let o = this.owned.get(partition);
    if (o) return o;
    const cp = await this.o.store.load(this.name, this.o.inputTopic, partition);
    const processor = cp ? this.o.factory.restore(partition, cp.state) : this.o.factory.create(partition);
    const next = cp ? BigInt(cp.offset) : -1n;
    o = { processor, next, checkpointed: next, dirty: false, lastFlush: this.o.clock.now(), pending: [] };
    this.owned.set(partition, o);
    this.stats.ownedPartitions = this.owned.size;
    return o;
  }

  private async handleBatch(batch: PartitionBatch, heartbeat: () => Promise<void>): Promise<void> {
    if (batch.topic !== this.o.inputTopic || batch.records.length === 0) return;
    const o = await this.ensureOwned(batch.partition);
    for (const record of batch.records) {
      const offset = BigInt(record.offset);
      if (o.next >= 0n && offset < o.next) {
        this.stats.recordsSkippedBelowCheckpoint++;
        continue;
      }
      try {
        o.processor.apply(record);
        this.stats.recordsApplied++;
      } catch (err) {
        if (err instanceof PmfError && !err.retryable) {
          // A record that can never be processed is counted and skipped, never retried forever.
          this.stats.recordsRejected++;
          this.o.onError?.(err, `${this.name}: partition ${batch.partition} offset ${record.offset} rejected`);
        } else {
          throw err;
        }
      }
      o.next = offset + 1n;
      o.dirty = true;
    }
    await heartbeat();
    if (this.o.clock.now() - o.lastFlush >= this.o.checkpointIntervalMs) {
      // A failed flush keeps its outputs pending and the state in memory; the next flush retries.
      await this.flush(batch.partition, o).catch((err) => this.o.onError?.(err, `${this.name}: flush of partition ${batch.partition}`));
    }
  }

  private async flushAll(final: boolean): Promise<void> {
    for (const [p, o] of this.owned) {
      if (o.dirty || final) await this.flush(p, o);
    }
  }

  private async flush(partition: number, o: Owned): Promise<void> {
    o.lastFlush = this.o.clock.now();
    if (!o.dirty && o.next === o.checkpointed && o.pending.length === 0) return;
    o.pending.push(...o.processor.takeOutputs());
    while (o.pending.length > 0) {
      const out = o.pending[0];
      if (out.records.length > 0) await this.o.producer.send(out.topic, out.records);
      o.pending.shift();
    }
    if (o.next < 0n) return;
    const offset = o.next.toString();
    await this.o.store.save(this.name, this.o.inputTopic, { partition, offset, state: o.processor.serialize() });
    this.stats.checkpoints++;
    o.checkpointed = o.next;
    o.dirty = false;
    if (this.owned.get(partition) === o && this.consumer) {
      await this.consumer.commit([{ topic: this.o.inputTopic, partition, offset }]).catch((err) => {
        // The checkpoint is the truth; a failed commit only means a longer skip after restart.
        this.o.onError?.(new PmfError('ERR_LOG_UNAVAILABLE', `${this.name}: offset commit failed: ${errorMessage(err)}`, { retryable: true, cause: err }), 'commit');
      });
    }
  }
}
