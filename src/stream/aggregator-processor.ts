// Adapts the pure partition aggregator to the stateful runner: event records in (each a batch), one
// FeaturePartial per feature out at each flush (cumulative, so a replayed flush is harmless).

import { encodeJson } from '../events/codec.js';
import { decodeEventRecord } from '../events/event-record-codec.js';
import { toFeaturePartials } from '../events/feature-partial.js';
import type { Topics } from '../events/topics.js';
import type { ConsumedRecord } from '../log/partitioned-log.js';
import type { Output, PartitionProcessor, ProcessorFactory } from './partition-processor.js';
import { PartitionAggregator, type PartitionAggregatorOptions } from '../aggregation/partition-aggregator.js';

export class AggregatorProcessor implements PartitionProcessor {
  private changed = false;

  constructor(readonly aggregator: PartitionAggregator, private readonly topics: Topics) {}

  apply(record: ConsumedRecord): void {
    this.aggregator.applyRecord(decodeEventRecord(record.value), record.offset);
    this.changed = true;
  }

  takeOutputs(): Output[] {
    if (!this.changed) return [];
    this.changed = false;
    // Every feature is re-published: the watermark moved, so maturity may have changed anywhere.
    const records = toFeaturePartials(this.aggregator.snapshot()).map((p) => ({ key: p.feature, value: encodeJson(p) }));
    return [{ topic: this.topics.cohortStats, records }];
  }

  serialize(): Buffer {
    return this.aggregator.serialize();
  }
}

export function aggregatorProcessorFactory(
  topics: Topics,
  options: () => Omit<PartitionAggregatorOptions, 'partition'>,
): ProcessorFactory {
  return {
    create: (partition) => new AggregatorProcessor(new PartitionAggregator({ ...options(), partition }), topics),
    restore: (partition, state) => new AggregatorProcessor(PartitionAggregator.restore(state, { ...options(), partition }), topics),
  };
}
