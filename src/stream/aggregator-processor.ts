// Adapts the pure partition aggregator to the stateful runner: feature events in, and each time
// the partition's watermark crosses a multiple of the verdict step (event time), one
// FeaturePartial per feature taken at that record and tagged with the step. The snapshots depend
// only on the partition's records, never on when the runner flushes, so the verdict engine sees
// the same inputs live and in replay (src/replay/replay.ts drives this same class).

import { decodeFeatureEvent, encodeJson } from '../events/codec.js';
import type { FeatureEvent } from '../events/feature-event.js';
import { toFeaturePartials, type FeaturePartial } from '../events/feature-partial.js';
import type { Topics } from '../events/topics.js';
import type { ConsumedRecord } from '../log/partitioned-log.js';
import type { Output, PartitionProcessor, ProcessorFactory } from './partition-processor.js';
import { PartitionAggregator, type PartitionAggregatorOptions } from '../aggregation/partition-aggregator.js';

export class AggregatorProcessor implements PartitionProcessor {
  private steps: FeaturePartial[] = [];
  /** The last step snapshotted: after a restore, the one the restored watermark had crossed. */
  private lastStep: number;

  constructor(
    readonly aggregator: PartitionAggregator,
    private readonly topics: Topics,
    private readonly stepMs: number,
  ) {
    this.lastStep = this.stepAt(aggregator.watermark);
  }

  apply(record: ConsumedRecord): void {
    this.applyEvent(decodeFeatureEvent(record.value), record.offset);
  }

  applyEvent(event: FeatureEvent, offset: string): void {
    this.aggregator.apply(event, offset);
    const step = this.stepAt(this.aggregator.watermark);
    if (step <= this.lastStep) return;
    // A jump across several steps takes one snapshot: the state is the same for all of them.
    this.lastStep = step;
    // Every ruled feature, with no cohorts where this partition has no data for it: the verdict
    // engine then knows every partition's progress for every feature from its first step on, so
    // which partitions a step waits for never depends on when their snapshots arrive.
    const agg = this.aggregator;
    const byFeature = new Map(toFeaturePartials(agg.snapshot()).map((p) => [p.feature, p]));
    const next = agg.nextOffset as string;
    for (const feature of agg.ruleFeatures()) {
      const p = byFeature.get(feature) ?? { feature, partition: agg.partition, offset: next, watermark: agg.watermark, cohorts: [] };
      this.steps.push({ ...p, step });
    }
  }

  /**
   * A step snapshot is what lets the verdict stage judge a step, so it does not wait for the
   * publish interval: under load that wait was most of the span → flag loop. It is cheap to send
   * at once: one snapshot per ruled feature per step crossed, not per record.
   */
  hasUrgentOutputs(): boolean {
    return this.steps.length > 0;
  }

  /** Step snapshots taken since the last call. */
  takeSteps(): FeaturePartial[] {
    const out = this.steps;
    this.steps = [];
    return out;
  }

  takeOutputs(): Output[] {
    const records = this.takeSteps().map((p) => ({ key: p.feature, value: encodeJson(p) }));
    return records.length === 0 ? [] : [{ topic: this.topics.cohortStats, records }];
  }

  serialize(): Buffer {
    return this.aggregator.serialize();
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
    restore: (partition, state) => new AggregatorProcessor(PartitionAggregator.restore(state, { ...options(), partition }), topics, stepMs),
  };
}
