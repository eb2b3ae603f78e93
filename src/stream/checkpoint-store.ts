// Per input partition, a stage's state and the input offset it reflects are saved together in one
// statement, so a restarted or reassigned partition resumes exactly where its state is. The guard
// on next_offset keeps a slow zombie owner from moving a checkpoint backwards; two owners that
// processed the same prefix hold byte-identical state (processing is deterministic), so the
// winner of a tie does not matter.

export interface Checkpoint {
  partition: number;
  /** Next offset to read; the state reflects every record before it. */
  offset: string;
  state: Buffer;
}

export interface CheckpointStore {
  load(stage: string, topic: string, partition: number): Promise<Checkpoint | null>;
  /** The stored checkpoint's offset only (cheap: no state); null when there is none. */
  loadOffset(stage: string, topic: string, partition: number): Promise<string | null>;
  /**
   * Saves unless the stored checkpoint is further along (another owner got ahead); returns
   * whether it was saved. Equal offsets are saved (the states are identical).
   */
  save(stage: string, topic: string, checkpoint: Checkpoint): Promise<boolean>;
}

/** For unit tests and tools; the services use the SQL store. */
export class InMemoryCheckpointStore implements CheckpointStore {
  private readonly rows = new Map<string, Checkpoint>();

  async load(stage: string, topic: string, partition: number): Promise<Checkpoint | null> {
    return this.rows.get(`${stage}\u0000${topic}\u0000${partition}`) ?? null;
  }

  async loadOffset(stage: string, topic: string, partition: number): Promise<string | null> {
    return (await this.load(stage, topic, partition))?.offset ?? null;
  }

  async save(stage: string, topic: string, cp: Checkpoint): Promise<boolean> {
    const key = `${stage}\u0000${topic}\u0000${cp.partition}`;
    const prev = this.rows.get(key);
    if (prev && BigInt(prev.offset) > BigInt(cp.offset)) return false;
    this.rows.set(key, { ...cp, state: Buffer.from(cp.state) });
    return true;
  }
}
