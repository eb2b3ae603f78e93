// What a stateful stage does with one input partition. The runner owns offsets, checkpoints and
// publishing; the processor owns only the pure state transition, so it is unit-testable alone.

import type { PartChanges, StatePart } from '../core/state-parts.js';
import type { ConsumedRecord, LogRecord } from '../log/partitioned-log.js';

export interface Output {
  topic: string;
  records: LogRecord[];
  /** Sent on the topic's urgent connection (LogProducer SendOptions): it must not queue behind bulk sends. */
  urgent?: boolean;
}

/** An incremental checkpoint taken from a processor, and how to tell it the save's outcome. */
export interface IncrementalState {
  head: Buffer;
  readonly changes: PartChanges;
  /**
   * When present, awaited in the save lane before `changes` is read: a state that would take long
   * to serialize does it there, in slices, rather than in the flush that took it (where it would
   * hold the event loop, and an urgent output, for the whole build). `changes` stays complete
   * without it.
   */
  prepare?(): Promise<void>;
  /** saved = false when the save failed or was refused: the next checkpoint must not rely on it. */
  settle(saved: boolean): void;
}

export interface PartitionProcessor {
  /** Applies one record. Must be deterministic: same records in, same state and outputs out. */
  apply(record: ConsumedRecord): void;
  /** Outputs produced since the last call (published before the next checkpoint). */
  takeOutputs(): Output[];
  /**
   * True when an output should not wait for the publish interval (e.g. a rollback command).
   * `catchingUp`: the partition's input is a backlog, not the live tail (PartitionBatch.catchingUp),
   * so an output that only matters live may wait.
   */
  hasUrgentOutputs?(catchingUp: boolean): boolean;
  /** The whole state. */
  serialize(): Buffer;
  /**
   * When present, checkpoints are incremental: what changed since the last settled save, taken
   * synchronously for a checkpoint at `offset` (the runner's next offset).
   */
  checkpoint?(offset: string): IncrementalState;
}

export interface RestorePacing {
  sliceMs: number;
  pause(): Promise<void>;
}

export interface ProcessorFactory {
  create(partition: number): PartitionProcessor;
  /**
   * `parts` are the stored part rows (empty for a whole-state checkpoint). A decode that lasts
   * (seconds at 10 M pairs) runs in slices of about `pacing.sliceMs` and awaits `pacing.pause`
   * between them; a rejected pause rejects the restore and its partial state is dropped.
   */
  restore(partition: number, state: Buffer, parts: readonly StatePart[], pacing?: RestorePacing): Promise<PartitionProcessor>;
}
