// Per input partition, a stage's state and the input offset it reflects are saved together in one
// transaction, so a restarted or reassigned partition resumes exactly where its state is. The guard
// on next_offset keeps a slow zombie owner from moving a checkpoint backwards, and refuses an equal
// offset too: an incremental save (parts) is a change against what the store holds, and two owners'
// changes at one offset may start from different saves, so only one of them may land (the refused
// owner reloads the checkpoint, which holds the same state: processing is deterministic).
//
// A stage saves either a whole state (`state` only) or a head plus part changes (see
// core/state-parts.ts); load returns the head and every stored part row, ordered by part then seq.

import type { PartChanges, StatePart } from '../core/state-parts.js';

export interface Checkpoint {
  partition: number;
  /** Next offset to read; the state reflects every record before it. */
  offset: string;
  /** The whole state, or the head of an incremental one. */
  state: Buffer;
  /** Loaded part rows by part, then seq (empty for a whole-state checkpoint). */
  parts?: StatePart[];
}

export interface CheckpointSave {
  partition: number;
  offset: string;
  state: Buffer;
  /** Applied in the same transaction as the head (absent: a whole state, and no part rows are touched). */
  changes?: PartChanges;
}

export interface CheckpointStore {
  load(stage: string, topic: string, partition: number): Promise<Checkpoint | null>;
  /** The stored checkpoint's offset only (cheap: no state); null when there is none. */
  loadOffset(stage: string, topic: string, partition: number): Promise<string | null>;
  /**
   * Saves unless the stored checkpoint is at or past this offset (another owner got there);
   * returns whether it was saved. A refused save changes nothing.
   */
  save(stage: string, topic: string, checkpoint: CheckpointSave): Promise<boolean>;
}

/** For unit tests and tools; the services use the SQL store. */
export class InMemoryCheckpointStore implements CheckpointStore {
  private readonly rows = new Map<string, { offset: string; state: Buffer; parts: Map<number, Map<string, Buffer>> }>();

  async load(stage: string, topic: string, partition: number): Promise<Checkpoint | null> {
    const row = this.rows.get(`${stage}\u0000${topic}\u0000${partition}`);
    if (!row) return null;
    const parts: StatePart[] = [];
    for (const part of [...row.parts.keys()].sort((a, b) => a - b)) {
      const seqs = [...(row.parts.get(part) as Map<string, Buffer>)].sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : 1));
      for (const [seq, data] of seqs) parts.push({ part, seq, data: Buffer.from(data) });
    }
    return { partition, offset: row.offset, state: Buffer.from(row.state), parts };
  }

  async loadOffset(stage: string, topic: string, partition: number): Promise<string | null> {
    return this.rows.get(`${stage}\u0000${topic}\u0000${partition}`)?.offset ?? null;
  }

  async save(stage: string, topic: string, cp: CheckpointSave): Promise<boolean> {
    const key = `${stage}\u0000${topic}\u0000${cp.partition}`;
    const prev = this.rows.get(key);
    if (prev && BigInt(prev.offset) >= BigInt(cp.offset)) return false;
    const parts = prev?.parts ?? new Map<number, Map<string, Buffer>>();
    for (const d of cp.changes?.drop ?? []) {
      const rows = parts.get(d.part);
      if (!rows) continue;
      for (const seq of [...rows.keys()]) if (d.below === undefined || BigInt(seq) < BigInt(d.below)) rows.delete(seq);
      if (rows.size === 0) parts.delete(d.part);
    }
    for (const p of cp.changes?.put ?? []) {
      const rows = parts.get(p.part) ?? new Map<string, Buffer>();
      rows.set(p.seq, Buffer.from(p.data));
      parts.set(p.part, rows);
    }
    this.rows.set(key, { offset: cp.offset, state: Buffer.from(cp.state), parts });
    return true;
  }
}
