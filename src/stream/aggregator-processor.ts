// Adapts the pure partition aggregator to the stateful runner: event records in (pmf.events.v2
// batches, applied event by event; watermark markers, which move only the watermark), and each
// time the partition's watermark crosses a multiple of the verdict step (event time), one
// FeaturePartial per feature taken right after the event (or marker) that crossed it and tagged
// with the step. The crossing is watched per event, not per record, so the
// snapshots (and the verdicts) are the same whether the receiver put one event or hundreds in a
// record: a batch whose events carry the watermark across several steps gives each step the state
// it had there, not the state at the end of the batch. A snapshot taken inside a record says so
// (`recordEvents`). The snapshots depend only on the partition's events, never on when the runner
// flushes, so the verdict engine sees the same inputs live and in replay (src/replay/replay.ts
// drives this same class).
// The snapshots taken between two flushes go out as one cohort-stats record per feature
// (events/cohort-stats-codec.ts): the first in full, the others as what changed since the one
// before. During a catch-up the watermark crosses a step every few dozen events, and full JSON
// snapshots were most of the stage's cost (4–10× the bytes it read); live, a record holds one
// full snapshot, as before. Which snapshots share a record depends on flush timing; the
// snapshots themselves do not.

import { decodeCohortStats, StepSnapshotWriter } from '../events/cohort-stats-codec.js';
import { decodeEventRecordIds } from '../events/event-record-codec.js';
import { RecordIds } from '../events/record-ids.js';
import { decodeWatermarkMarker, isWatermarkMarker, type SourceMark } from '../events/watermark-marker.js';
import type { EventBody, FeatureEvent } from '../events/feature-event.js';
import type { FeaturePartial, SnapshotPosition } from '../events/feature-partial.js';
import type { Topics } from '../events/topics.js';
import type { ConsumedRecord } from '../log/partitioned-log.js';
import type { IncrementalState, Output, PartitionProcessor, ProcessorFactory } from './partition-processor.js';
import { AggregatorCheckpointer } from '../aggregation/aggregator-checkpoint.js';
import { PartitionAggregator, type PartitionAggregatorOptions } from '../aggregation/partition-aggregator.js';
import { compareStrings } from '../aggregation/feature-slot.js';

/**
 * A record is closed and a new one started (with a full snapshot) past this many bytes: a flush
 * that waits while a catch-up crosses thousands of steps must not make a record the broker
 * refuses for good (Kafka's default message.max.bytes is 1 MiB).
 */
const MAX_RECORD_BYTES = 256 * 1024;

export class AggregatorProcessor implements PartitionProcessor {
  /** Step snapshots since the last takeOutputs: one open record per ruled feature, in the order first seen. */
  private pending = new Map<string, StepSnapshotWriter>();
  /** Records closed at MAX_RECORD_BYTES since the last takeOutputs, in the order closed. */
  private closed: StepSnapshotWriter[] = [];
  /** The last step snapshotted: after a restore, the one the restored watermark had crossed. */
  private lastStep: number;

  private readonly checkpointer: AggregatorCheckpointer;

  constructor(
    readonly aggregator: PartitionAggregator,
    private readonly topics: Topics,
    private readonly stepMs: number,
    /** What the checkpoint store holds of this state (absent: nothing in parts yet). */
    checkpointer?: AggregatorCheckpointer,
  ) {
    this.lastStep = this.stepAt(aggregator.watermark);
    this.checkpointer = checkpointer ?? AggregatorCheckpointer.fresh(aggregator);
  }

  /** Reused for every record: its users and ids stay raw bytes on the way to the aggregator. */
  private readonly ids = new RecordIds();

  apply(record: ConsumedRecord): void {
    if (isWatermarkMarker(record.value)) this.applyMarks(decodeWatermarkMarker(record.value), record.offset);
    else this.applyEvents(decodeEventRecordIds(record.value, this.ids), record.offset, this.ids);
  }

  /** A watermark marker record: the step snapshot when its marks carried the watermark across a step. */
  applyMarks(marks: readonly SourceMark[], offset: string): void {
    if (!this.aggregator.applyMarker(marks, offset)) return;
    const step = this.stepAt(this.aggregator.watermark);
    if (step > this.lastStep) this.snapshotAt(step, undefined, offset);
  }

  /**
   * The events of one record, each followed by the step snapshot when it carried the watermark
   * across a step. A record that is a re-delivery is skipped whole (its first event tells).
   * With `ids` (decodeEventRecordIds), the events' users and ids are there.
   */
  applyEvents(events: readonly FeatureEvent[], offset: string): void;
  applyEvents(events: readonly EventBody[], offset: string, ids: RecordIds): void;
  applyEvents(events: readonly EventBody[], offset: string, ids?: RecordIds): void {
    const agg = this.aggregator;
    for (let i = 0; i < events.length; i++) {
      if (!agg.applyInRecord(events[i], offset, i === 0, ids as RecordIds, i)) return;
      const step = this.stepAt(agg.watermark);
      if (step > this.lastStep) this.snapshotAt(step, i + 1 < events.length ? i + 1 : undefined, offset);
    }
  }

  /**
   * Every ruled feature as of now, tagged with `step`. An event that moves the watermark across
   * several steps takes one snapshot: nothing was applied between them, so the state is the same
   * for all of them. `recordEvents` = events of the record at `offset` applied so far, when some
   * of it is still to come.
   */
  private snapshotAt(step: number, recordEvents: number | undefined, offset: string): void {
    this.lastStep = step;
    // Every ruled feature, with no cohorts where this partition has no data for it: the verdict
    // engine then knows every partition's progress for every feature from its first step on, so
    // which partitions a step waits for never depends on when their snapshots arrive.
    const agg = this.aggregator;
    const position: SnapshotPosition = recordEvents === undefined ? { offset: agg.nextOffset as string } : { offset, recordEvents };
    const withData = new Map(agg.ruledCohorts().map((f) => [f.feature, f.cohorts]));
    for (const feature of agg.ruleFeatures()) {
      let record = this.pending.get(feature);
      if (record && record.bytes >= MAX_RECORD_BYTES) {
        this.closed.push(record);
        record = undefined;
      }
      if (!record) this.pending.set(feature, (record = new StepSnapshotWriter(feature, agg.partition)));
      record.add(step, position, agg.watermark, (withData.get(feature) ?? []).map((acc) => acc.capture()));
    }
  }

  /**
   * A step snapshot is what lets the verdict stage judge a step, so live it does not wait for the
   * publish interval: under load that wait was most of the span → flag loop. It is cheap to send
   * at once there: one record per ruled feature per flush, not per step or per input record.
   * While the input is a backlog (a catch-up or replay) the watermark crosses a step every few
   * dozen events, and sending at once made a Kafka send per acknowledgement round trip (hundreds
   * a second, about a third of the stage's CPU): the snapshots then wait for the publish interval,
   * where they share records. The snapshots themselves are the same either way.
   */
  hasUrgentOutputs(catchingUp = false): boolean {
    return !catchingUp && (this.pending.size > 0 || this.closed.length > 0);
  }

  /** Step snapshots taken since the last call, decoded from the records takeOutputs would send, in step order. */
  takeSteps(): FeaturePartial[] {
    const steps = this.takeRecords().flatMap((r) => decodeCohortStats(r.value));
    // At one step, the features in name order, as the rules list them.
    return steps.sort((a, b) => (a.step as number) - (b.step as number) || compareStrings(a.feature, b.feature));
  }

  takeOutputs(): Output[] {
    const records = this.takeRecords();
    return records.length === 0 ? [] : [{ topic: this.topics.cohortStats, records }];
  }

  private takeRecords(): { key: string; value: Buffer }[] {
    // A feature's closed records hold its earlier steps: they go first.
    const records = [...this.closed, ...this.pending.values()].map((w) => ({ key: w.feature, value: w.finish() }));
    this.closed = [];
    this.pending.clear();
    return records;
  }

  serialize(): Buffer {
    return this.aggregator.serialize();
  }

  /** Incremental: only what changed since the last settled save (aggregation/aggregator-checkpoint.ts). */
  checkpoint(offset: string): IncrementalState {
    return this.checkpointer.take(this.aggregator, offset);
  }

  private stepAt(watermark: number): number {
    return watermark === Number.NEGATIVE_INFINITY ? watermark : Math.floor(watermark / this.stepMs) * this.stepMs;
  }
}

export function aggregatorProcessorFactory(
  topics: Topics,
  stepMs: number,
  options: () => Omit<PartitionAggregatorOptions, 'partition'>,
): ProcessorFactory {
  return {
    create: (partition) => new AggregatorProcessor(new PartitionAggregator({ ...options(), partition }), topics, stepMs),
    restore: async (partition, state, parts, pacing) => {
      const opts = { ...options(), partition };
      // A whole-state checkpoint (written before incremental checkpoints) is read once, in one
      // piece; the first save then writes every part.
      if (parts.length === 0 && !AggregatorCheckpointer.isHead(state)) {
        return new AggregatorProcessor(PartitionAggregator.restore(state, opts), topics, stepMs);
      }
      const { aggregator, checkpointer } = pacing
        ? await AggregatorCheckpointer.restoreSliced(state, parts, opts, pacing.sliceMs, () => pacing.pause())
        : AggregatorCheckpointer.restore(state, parts, opts);
      return new AggregatorProcessor(aggregator, topics, stepMs, checkpointer);
    },
  };
}
