// What a stateful stage does with one input partition. The runner owns offsets, checkpoints and
// publishing; the processor owns only the pure state transition, so it is unit-testable alone.

import type { ConsumedRecord, LogRecord } from '../log/partitioned-log.js';

export interface Output {
  topic: string;
  records: LogRecord[];
}

export interface PartitionProcessor {
  /** Applies one record. Must be deterministic: same records in, same state and outputs out. */
  apply(record: ConsumedRecord): void;
  /** Outputs produced since the last call (published before the next checkpoint). */
  takeOutputs(): Output[];
  /** True when an output should not wait for the publish interval (e.g. a rollback command). */
  hasUrgentOutputs?(): boolean;
  serialize(): Buffer;
}

export interface ProcessorFactory {
  create(partition: number): PartitionProcessor;
  restore(partition: number, state: Buffer): PartitionProcessor;
}
