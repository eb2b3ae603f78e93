// The shape of an incremental checkpoint, shared by the pure stages that produce one and the
// checkpoint store that keeps it. A checkpoint is a small head (replaced whole at every save)
// plus parts: rows keyed by (part, seq) that a save adds to or drops, so the bytes written per
// save follow what changed, not the size of the state. How a stage numbers its parts and what a
// row holds is the stage's business (for the aggregator: docs/aggregation.md, "Checkpoints").

export interface StatePart {
  part: number;
  /** Orders the rows of one part (a non-negative integer as a decimal string: bigint in SQL). */
  seq: string;
  data: Buffer;
}

export interface PartChanges {
  /** Rows to write (a row with the same part and seq is replaced). */
  put: StatePart[];
  /** Rows to delete: those of `part` with seq < `below`, or every row of `part` without `below`. */
  drop: { part: number; below?: string }[];
}
