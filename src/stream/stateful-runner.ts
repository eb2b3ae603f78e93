// Runs a stateful stage over a consumer group with an exactly-once effect that does not rest on
// Kafka transactions (kafkajs cannot fence zombies, see docs/architecture.md):
//  1. a partition's state is restored from its checkpoint when the partition is first seen (the
//     member heartbeats while it loads and, between slices, while it decodes: restore-heartbeat.ts);
//  2. records below the checkpoint offset are skipped (the committed Kafka offset may lag it);
//  3. at each checkpoint: publish outputs (await acks) → save state + offset → commit the offset.
// Outputs are also published between checkpoints (publishIntervalMs, or at once, even mid-batch,
// when the processor says an output is urgent, such as a rollback command), because the end-to-end loop must not wait
// for a whole checkpoint interval at every stage. That is safe for the same reason replays are:
// outputs are cumulative or idempotent, and consumers ignore a snapshot older than one they have.
// A crash between 1–3 replays records onto the last checkpoint; outputs are cumulative snapshots
// or carry deterministic ids, so publishing them twice is harmless.
//
// A flush takes the outputs and the state synchronously, then does its I/O in the background
// while records keep being applied. The I/O runs in two lanes per partition: publishing (one
// send sequence at a time, so outputs stay in order) and saving (the checkpoint save and the
// offset commit, which follow that checkpoint's own publish). A flush that only publishes needs
// only the publish lane: an urgent output does not wait for a PostgreSQL save or for an offset
// commit, which on Kafka queues behind the consumer's long-poll fetch on the same connection
// and so lasts until the next input record on a quiet topic. A checkpoint due while a save is in
// flight waits for it (a flush then only publishes). A processor with checkpoint() hands over only
// what changed since its last save (a head and part rows, built in the save lane if it has
// prepare) and is told whether the save landed; others hand over their whole serialized state.
//
// In-memory state is only trusted while nobody else can have moved the partition on. It is
// dropped (and the checkpoint reloaded) when a rebalance keeps a partition whose stored
// checkpoint is no longer ours (we were out of the group meanwhile), when a save is refused
// because the stored checkpoint is ahead, and when the fetch position jumps past our state and
// the checkpoint moved. A batch that starts past the state's next offset is refused (thrown), so
// the consumer re-delivers from its last commit, which is never past the stored checkpoint; only
// a gap that re-delivery reproduces exactly (offsets that do not exist) is accepted and counted.

import type { Clock } from '../core/clock.js';
import { PmfError, errorMessage } from '../core/errors.js';
import { once, type Component } from '../core/lifecycle.js';
import { nextTurn } from '../core/next-turn.js';
import type { GroupConsumer, LogProducer, PartitionBatch, PartitionedLog, TopicPartition } from '../log/partitioned-log.js';
import type { CheckpointStore } from './checkpoint-store.js';
import type { StatePart } from '../core/state-parts.js';
import type { IncrementalState, Output, PartitionProcessor, ProcessorFactory } from './partition-processor.js';
import { whileHeartbeating } from './restore-heartbeat.js';

const APPLY_SLICE_MS = 4; // longest run of record applies without a turn (the serial chain keeps order)
/** Longest run of a checkpoint decode without a turn: far below a heartbeat interval (3 s by default). */
export const RESTORE_SLICE_MS = 50;
/** A whole state (head only) or an incremental one. */
type StateToSave = Pick<IncrementalState, 'head'> & Partial<IncrementalState>;

export interface StatefulRunnerOptions {
  name: string;
  log: PartitionedLog;
  producer: LogProducer;
  store: CheckpointStore;
  factory: ProcessorFactory;
  groupId: string;
  inputTopic: string;
  checkpointIntervalMs: number;
  /** Outputs are published at least this often (default: checkpointIntervalMs). */
  publishIntervalMs?: number;
  clock: Clock;
  onError?: (err: unknown, context: string) => void;
}

interface Owned {
  processor: PartitionProcessor;
  /** Next offset to read, as a bigint for comparisons. */
  next: bigint;
  checkpointed: bigint;
  dirty: boolean;
  /** Clock time of the last checkpoint (or of taking ownership). */
  lastFlush: number;
  /** Clock time outputs were last taken and sent. */
  lastPublish: number;
  /** Outputs taken from the processor but not yet acknowledged by the log; retried at the next flush. */
  pending: Output[];
  /** The in-flight publish of the latest flush; it never rejects. */
  publishing?: Promise<void>;
  /** The in-flight save → commit of the latest checkpoint (after its publish); it never rejects. */
  saving?: Promise<void>;
  /** The latest save handed to the store (its publish done, its commit not): its offset and whether it landed (never rejects). */
  storing?: { offset: bigint; landed: Promise<boolean> };
  /** A save was refused: another owner is ahead. Dropped at the next chance in the serial chain. */
  stale: boolean;
  /** The last gap refused for re-delivery: a second identical one is accepted. */
  gap?: { next: bigint; first: bigint };
  /** The last batch came from a backlog (PartitionBatch.catchingUp): the processor decides what still is urgent. */
  catchingUp: boolean;
}

export interface RunnerStats {
  recordsApplied: number;
  recordsSkippedBelowCheckpoint: number;
  recordsRejected: number;
  checkpoints: number;
  ownedPartitions: number;
  /** In-memory partition states dropped because another owner moved the checkpoint on. */
  staleStatesDropped: number;
  /** Saves refused because the stored checkpoint was further along. */
  checkpointsRefused: number;
  /** Batches that started past our next offset while the checkpoint was still ours (sparse offsets). */
  offsetGaps: number;
}

export class StatefulRunner implements Component {
  readonly name: string;
  private consumer?: GroupConsumer;
  private readonly owned = new Map<number, Owned>();
  /** One flush or batch at a time per runner: keeps the timer and the batch handler apart. */
  private chain: Promise<unknown> = Promise.resolve();
  private timer?: { cancel(): void };
  private stopping = false;
  readonly stats: RunnerStats = {
    recordsApplied: 0, recordsSkippedBelowCheckpoint: 0, recordsRejected: 0, checkpoints: 0,
    ownedPartitions: 0, staleStatesDropped: 0, checkpointsRefused: 0, offsetGaps: 0,
  };

  constructor(private readonly o: StatefulRunnerOptions) {
    this.name = o.name;
  }

  /** Next offset to read per owned partition (for consumer lag); absent before the first record. */
  positions(): Map<number, bigint> {
    return new Map([...this.owned].filter(([, o]) => o.next >= 0n).map(([p, o]) => [p, o.next]));
  }

  get inputTopic(): string {
    return this.o.inputTopic;
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
    }, this.publishIntervalMs);
  }

  private get publishIntervalMs(): number {
    return Math.min(this.o.publishIntervalMs ?? this.o.checkpointIntervalMs, this.o.checkpointIntervalMs);
  }

  private async onAssignment(owned: TopicPartition[]): Promise<void> {
    const keep = new Set(owned.filter((tp) => tp.topic === this.o.inputTopic).map((tp) => tp.partition));
    for (const p of [...this.owned.keys()]) {
      // A revoked partition's unflushed work is dropped, not flushed: the new owner may already
      // be processing it from the checkpoint, and the offset guard would refuse us anyway.
      if (!keep.has(p)) this.owned.delete(p);
    }
    // A kept partition is ours only if nobody saved a checkpoint since ours: with kafkajs' eager
    // protocol a member that fell out of the group (session timeout, a long pause) learns of it
    // only here, after another member may have processed and checkpointed the partition.
    for (const [p, o] of [...this.owned]) {
      if (o.stale || !(await this.checkpointStillOurs(p, o))) this.dropStale(p);
    }
    this.stats.ownedPartitions = this.owned.size;
  }

  // Runs in the serial chain, which every partition's batches (and so the consumer's heartbeats)
  // queue behind: it waits only for our own save in the store (bounded by the store's lock and
  // statement timeouts), never for the publish before it or the commit after it, which wait on
  // Kafka (acks, the consumer's long poll) for as long as a broker makes them. A save that has not
  // reached the store by the time a state is dropped never does (flushIo).
  private async checkpointStillOurs(partition: number, o: Owned): Promise<boolean> {
    await o.storing?.landed; // our own save may be landing right now
    if (o.stale) return false;
    const stored = await this.o.store.loadOffset(this.o.name, this.o.inputTopic, partition);
    const offset = stored === null ? -1n : BigInt(stored);
    // One may have reached the store while we read: settled before we answer, and ours if we read it.
    const late = o.storing;
    const lateSaved = late !== undefined && (await late.landed);
    if (o.stale) return false;
    return offset === o.checkpointed || (lateSaved && offset === late.offset);
  }

  private dropStale(partition: number): void {
    this.owned.delete(partition);
    this.stats.staleStatesDropped++;
    this.stats.ownedPartitions = this.owned.size;
  }

  private async ensureOwned(partition: number, heartbeat: () => Promise<void>): Promise<Owned> {
    let o = this.owned.get(partition);
    if (o?.stale) {
      this.dropStale(partition);
      o = undefined;
    }
    if (o) return o;
    // The load lasts seconds at 10 M pairs: the member heartbeats meanwhile, and a failed heartbeat
    // (a rebalance) ends this batch with its error before the partition is used (docs/aggregation.md).
    const cp = await whileHeartbeating(
      this.o.store.load(this.name, this.o.inputTopic, partition),
      heartbeat,
      this.consumer?.heartbeatIntervalMs,
      this.o.clock,
      (err) => this.o.onError?.(err, `${this.name}: abandoned checkpoint load of partition ${partition}`),
    );
    const processor = cp ? await this.decode(partition, cp.state, cp.parts ?? [], heartbeat) : this.o.factory.create(partition);
    const next = cp ? BigInt(cp.offset) : -1n;
    const now = this.o.clock.now();
    o = { processor, next, checkpointed: next, dirty: false, lastFlush: now, lastPublish: now, pending: [], stale: false, catchingUp: false };
    this.owned.set(partition, o);
    this.stats.ownedPartitions = this.owned.size;
    return o;
  }

  /**
   * The decode lasts seconds at 10 M pairs: it runs in slices that give the event loop back, and
   * the member heartbeats between them as during the load. After a failed heartbeat the decode
   * stops at its next slice and its partial state is dropped; the batch ends with the heartbeat's
   * error.
   */
  private decode(partition: number, state: Buffer, parts: readonly StatePart[], heartbeat: () => Promise<void>): Promise<PartitionProcessor> {
    let abandoned = false;
    const stopped = new PmfError('ERR_LOG_UNAVAILABLE', `${this.name}: checkpoint decode of partition ${partition} abandoned after a failed heartbeat`, { retryable: true });
    const pause = async () => {
      await nextTurn();
      if (abandoned) throw stopped;
    };
    return whileHeartbeating(
      this.o.factory.restore(partition, state, parts, { sliceMs: RESTORE_SLICE_MS, pause }),
      () => heartbeat().catch((err: unknown) => {
        abandoned = true;
        throw err;
      }),
      this.consumer?.heartbeatIntervalMs,
      this.o.clock,
      (err) => {
        if (err !== stopped) this.o.onError?.(err, `${this.name}: abandoned checkpoint decode of partition ${partition}`);
      },
    );
  }

  private async handleBatch(batch: PartitionBatch, heartbeat: () => Promise<void>): Promise<void> {
    if (batch.topic !== this.o.inputTopic || batch.records.length === 0) return;
    let o = await this.ensureOwned(batch.partition, heartbeat);
    const first = BigInt(batch.records[0].offset);
    if (o.next >= 0n && first > o.next) {
      // The fetch position jumped past our state. If someone else moved the checkpoint on, their
      // state replaces ours; if a gap remains, the records in it must come again.
      if (!(await this.checkpointStillOurs(batch.partition, o))) {
        this.dropStale(batch.partition);
        o = await this.ensureOwned(batch.partition, heartbeat);
      }
      if (o.next >= 0n && first > o.next) {
        if (o.gap === undefined || o.gap.next !== o.next || o.gap.first !== first) {
          o.gap = { next: o.next, first };
          throw new PmfError(
            'ERR_LOG_UNAVAILABLE',
            `${this.name}: partition ${batch.partition} delivered offset ${first} but the state needs ${o.next}; re-delivering from the last commit`,
            { retryable: true },
          );
        }
        // Re-delivery from the last commit brought the same gap: those offsets do not exist
        // (deleted by retention, or never written). Counted and logged, never silently accepted.
        this.stats.offsetGaps++;
        this.o.onError?.(new PmfError('ERR_LOG_GAP', `${this.name}: partition ${batch.partition} resumes at ${first}, but its state ends at ${o.next}: records ${o.next}..${first - 1n} are not in the log (retention?)`), 'offset gap');
        o.gap = undefined;
      }
    }
    o.catchingUp = batch.catchingUp === true;
    const last = batch.records.length - 1;
    for (let i = 0, sliceEnds = performance.now() + APPLY_SLICE_MS; i <= last; i++) {
      const record = batch.records[i];
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
      // An urgent output leaves before the rest of the batch, its send given a turn to start (once per
      // publish); the loop is given back every slice too: acks and other stages' I/O need not wait.
      const urgent = i < last && o.publishing === undefined && o.processor.hasUrgentOutputs?.(o.catchingUp);
      if (urgent) await this.flush(batch.partition, o, false, false);
      if (i < last && (urgent || performance.now() >= sliceEnds)) {
        await nextTurn();
        sliceEnds = performance.now() + APPLY_SLICE_MS;
      }
    }
    // The flush only starts its I/O, so it goes before the heartbeat: a due heartbeat is a round
    // trip to the group coordinator that an urgent output need not wait for.
    const now = this.o.clock.now();
    if (now - o.lastFlush >= this.o.checkpointIntervalMs && o.saving === undefined) await this.flush(batch.partition, o, false, true);
    else if (now - o.lastPublish >= this.publishIntervalMs || o.processor.hasUrgentOutputs?.(o.catchingUp)) await this.flush(batch.partition, o, false, false);
    await heartbeat();
  }

  private async flushAll(final: boolean): Promise<void> {
    const now = this.o.clock.now();
    for (const [p, o] of [...this.owned]) {
      const checkpoint = final || (o.dirty && now - o.lastFlush >= this.o.checkpointIntervalMs);
      await this.flush(p, o, final, checkpoint);
    }
  }

  /**
   * Takes the outputs (and, for a checkpoint, the state) now and starts their I/O. Periodic
   * flushes (wait = false) return at once: they skip while a publish is in flight, and only
   * publish while a save is in flight (the checkpoint stays due). The final flush waits for
   * everything and throws what failed.
   */
  private async flush(partition: number, o: Owned, wait: boolean, checkpoint: boolean): Promise<void> {
    if (wait) {
      while (o.publishing !== undefined || o.saving !== undefined) await Promise.all([o.publishing, o.saving]);
    } else {
      if (o.publishing !== undefined) return;
      if (o.saving !== undefined) checkpoint = false;
    }
    if (o.stale) return; // behind another owner: nothing of ours is worth publishing or saving
    const now = this.o.clock.now();
    o.lastPublish = now;
    if (checkpoint) o.lastFlush = now;
    o.pending.push(...o.processor.takeOutputs());
    o.pending = o.pending.filter((out) => out.records.length > 0);
    if (checkpoint ? !o.dirty && o.next === o.checkpointed && o.pending.length === 0 : o.pending.length === 0) return;
    const outputs = o.pending.splice(0);
    const next = o.next;
    // Nothing to save when the state is the checkpointed one (an equal offset would be refused).
    const save = checkpoint && next >= 0n && (o.dirty || next !== o.checkpointed);
    const state: StateToSave | undefined = !save
      ? undefined
      : o.processor.checkpoint
        ? o.processor.checkpoint(next.toString())
        : { head: o.processor.serialize() };
    if (checkpoint) o.dirty = false;
    let published!: () => void;
    const publishing = new Promise<void>((resolve) => (published = resolve));
    const io = this.flushIo(partition, o, outputs, next, state, published);
    const settled = io.then(
      () => undefined,
      (err) => {
        if (!wait) this.o.onError?.(err, `${this.name}: flush of partition ${partition}`);
      },
    );
    void settled.then(published); // a failed publish ends the lane too (its outputs are back in pending)
    o.publishing = publishing;
    void publishing.then(() => {
      if (o.publishing === publishing) o.publishing = undefined;
      this.followUp(partition, o);
    });
    if (state !== undefined) {
      o.saving = settled;
      void settled.then(() => {
        if (o.saving === settled) o.saving = undefined;
        this.followUp(partition, o);
      });
    }
    if (wait) await io;
  }

  /**
   * After a lane lands: an urgent output (a rollback command, a step snapshot) that arrived
   * meanwhile was skipped; sent now, it need not wait for the next batch or publish tick (on a
   * quiet input, such as the verdict stage's, that was most of the loop). A checkpoint that fell
   * due meanwhile goes with it: when urgent outputs keep a flush in flight (a step snapshot every
   * few records during a catch-up), the batch path always finds one in flight and would skip the
   * checkpoint until the input went quiet.
   */
  private followUp(partition: number, o: Owned): void {
    if (this.stopping || this.owned.get(partition) !== o) return;
    // A due checkpoint waits for the save lane (that save's own follow-up comes); only an urgent
    // output is worth a publish of its own meanwhile.
    const due = o.dirty && o.saving === undefined && this.o.clock.now() - o.lastFlush >= this.o.checkpointIntervalMs;
    if (due || o.processor.hasUrgentOutputs?.(o.catchingUp)) {
      this.serial(() => this.flush(partition, o, false, due)).catch((err) => this.o.onError?.(err, `${this.name}: urgent flush of partition ${partition}`));
    }
  }

  private async flushIo(partition: number, o: Owned, outputs: Output[], next: bigint, state: StateToSave | undefined, published: () => void): Promise<void> {
    let sent = 0;
    let saved = false;
    try {
      for (; sent < outputs.length; sent++) {
        const out = outputs[sent];
        if (out.records.length > 0) await (out.urgent ? this.o.producer.send(out.topic, out.records, { urgent: true }) : this.o.producer.send(out.topic, out.records));
      }
      // Every output taken up to `next` is acknowledged: later outputs may go out while this
      // state is saved (they come from records at or after `next`, as between checkpoints).
      published();
      if (state === undefined) return;
      await state.prepare?.(); // after the publish: its outputs do not wait for the build
      if (this.owned.get(partition) !== o) {
        // Dropped (another owner moved the checkpoint on) or revoked while it published: not ours to save.
        state.settle?.(false);
        return;
      }
      const offset = next.toString();
      const storing = this.o.store.save(this.name, this.o.inputTopic, { partition, offset, state: state.head, changes: state.changes });
      o.storing = { offset: next, landed: storing.then((ok) => ok, () => false) };
      saved = await storing;
      state.settle?.(saved);
      if (!saved) {
        // Another owner is further along: our state is behind the truth. Reloaded in the chain.
        this.stats.checkpointsRefused++;
        o.stale = true;
        return;
      }
      this.stats.checkpoints++;
      if (next > o.checkpointed) o.checkpointed = next;
      // Not while stopping: the consumer has left the group by the final flush.
      if (this.owned.get(partition) === o && this.consumer && !this.stopping) {
        await this.consumer.commit([{ topic: this.o.inputTopic, partition, offset }]).catch((err) => {
          // The checkpoint is the truth; a failed commit only means a longer skip after restart.
          this.o.onError?.(new PmfError('ERR_LOG_UNAVAILABLE', `${this.name}: offset commit failed: ${errorMessage(err)}`, { retryable: true, cause: err }), 'commit');
        });
      }
    } catch (err) {
      // Unsent outputs go back first in line, and the state stays due: the next flush retries
      // (an incremental state is told its changes may not have landed).
      if (state !== undefined && !saved) state.settle?.(false);
      o.pending.unshift(...outputs.slice(sent));
      o.dirty = true;
      throw err;
    }
  }
}
