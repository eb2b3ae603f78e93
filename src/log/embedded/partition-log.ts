// One partition of the embedded log: a list of segments, the last one taking appends. Appends that
// arrive while a write is in progress are written (and, with the `always` fsync policy, synced)
// together, so one fsync covers many sends. Records become visible to consumers only after that.
// Maintenance deletes whole closed segments past the time or size retention, and for a compacted
// topic rewrites closed segments every consumer group has passed, keeping the latest record per key.

import type { StoredRecord } from './record-codec.js';
import type { Segment, SegmentStore } from './segment.js';

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface PartitionPolicy {
  /** Closed segments whose newest record is older than this go (ms; undefined = kept by time forever). */
  retentionMs?: number;
  /** The oldest closed segments go while the partition is larger than this (bytes; undefined = no limit). */
  retentionBytes?: number;
  /** A segment takes appends until it is this large... */
  segmentBytes: number;
  /** ...or its first record is this old (ms), so a quiet topic still ages out. */
  segmentMs: number;
  /** For compacted topics: the key records are compacted by (null = never dropped). */
  compactionKey?: (record: StoredRecord) => string | null;
}

export interface MaintenanceResult {
  segmentsDeleted: number;
  recordsDeleted: number;
  recordsCompacted: number;
}

interface PendingAppend {
  records: { key: string | null; value: Buffer }[];
  timestamp: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class PartitionLog {
  private pending: PendingAppend[] = [];
  private writing?: Promise<void>;
  private maintaining = false;
  /** Segments found already compacted (a rewrite output, or a single segment with nothing to drop). */
  private readonly cleaned = new WeakSet<Segment>();
  /** Unsynced appends exist (interval / never policies). */
  dirty = false;

  private constructor(
    private segments: Segment[],
    private readonly store: SegmentStore,
    private readonly policy: PartitionPolicy,
    private readonly fsync: FsyncPolicy,
    private readonly onVisible: () => void,
  ) {}

  static async open(store: SegmentStore, policy: PartitionPolicy, fsync: FsyncPolicy, onVisible: () => void): Promise<PartitionLog> {
    const segments = await store.load();
    if (segments.length === 0) segments.push(await store.create(0));
    return new PartitionLog(segments, store, policy, fsync, onVisible);
  }

  /** Kafka's log start offset: nothing below it can be read any more. */
  get start(): number {
    return this.segments[0].base;
  }

  /** The next offset to be written (Kafka's log end offset). */
  get end(): number {
    return this.active.next;
  }

  get sizeBytes(): number {
    return this.segments.reduce((sum, s) => sum + s.size, 0);
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1];
  }

  /** Resolves once the records are written (and synced under `always`) and visible. */
  append(records: { key: string | null; value: Buffer }[], timestamp: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ records, timestamp, resolve, reject });
      this.writing ??= this.writeLoop();
    });
  }

  private async writeLoop(): Promise<void> {
    while (this.pending.length > 0) {
      const group = this.pending;
      this.pending = [];
      try {
        await this.rollIfDue(group[0].timestamp);
        let offset = this.active.next;
        const stored: StoredRecord[] = [];
        for (const a of group) for (const r of a.records) stored.push({ offset: offset++, key: r.key, value: r.value, timestamp: a.timestamp });
        if (stored.length > 0) {
          await this.active.append(stored, this.fsync === 'always');
          if (this.fsync !== 'always') this.dirty = true;
        }
        for (const a of group) a.resolve();
        this.onVisible();
      } catch (err) {
        for (const a of group) a.reject(err);
      }
    }
    this.writing = undefined;
  }

  private async rollIfDue(now: number): Promise<void> {
    const a = this.active;
    if (a.records === 0) {
      // A failed undo left an empty segment unusable: start it again under the same name.
      if (a.broken) {
        await a.retire(true);
        this.segments = [...this.segments.slice(0, -1), await this.store.create(a.base)];
      }
      return;
    }
    if (!a.broken && a.size < this.policy.segmentBytes && now - a.minTimestamp < this.policy.segmentMs) return;
    // The closed segment gets its last sync now, so only the active one is ever dirty.
    if (this.fsync === 'interval' && this.dirty && !a.broken) {
      await a.sync();
      this.dirty = false;
    }
    this.segments.push(await this.store.create(a.next));
  }

  /** Syncs unsynced appends (the interval policy's timer). */
  async sync(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    await this.active.sync();
  }

  /** Records with offsets in [from, end), at most max of them and about maxBytes. */
  async read(from: number, max: number, maxBytes: number): Promise<StoredRecord[]> {
    const segments = this.segments;
    let i = segments.length - 1;
    while (i > 0 && segments[i].base > from) i--;
    const out: StoredRecord[] = [];
    for (; i < segments.length && out.length < max; i++) {
      const got = await segments[i].read(Math.max(from, segments[i].base), max - out.length, maxBytes);
      out.push(...got);
      // A segment compacted down to nothing past `from` sends the read on to the next one.
      if (out.length > 0) break;
    }
    return out;
  }

  /**
   * Rolls a segment older than segmentMs, then deletes closed segments past retention, then (for a
   * compacted topic) compacts closed segments that end at or below `compactBelow`, the lowest
   * committed offset of the groups reading the partition: records nobody has read yet are never
   * compacted away, so compaction changes only what a new reader or a replay sees.
   */
  async maintain(now: number, compactBelow: number | undefined): Promise<MaintenanceResult> {
    const result: MaintenanceResult = { segmentsDeleted: 0, recordsDeleted: 0, recordsCompacted: 0 };
    if (this.maintaining) return result;
    this.maintaining = true;
    try {
      // Rolled through the write loop so it never races an append.
      if (this.active.records > 0 && now - this.active.minTimestamp >= this.policy.segmentMs) await this.append([], now);
      const { retentionMs, retentionBytes } = this.policy;
      while (this.segments.length > 1) {
        const oldest = this.segments[0];
        const expired = retentionMs !== undefined && oldest.maxTimestamp < now - retentionMs;
        const oversized = retentionBytes !== undefined && this.sizeBytes > retentionBytes;
        if (!expired && !oversized) break;
        this.segments = this.segments.slice(1);
        result.segmentsDeleted++;
        result.recordsDeleted += oldest.records;
        await oldest.retire(true);
      }
      if (this.policy.compactionKey && compactBelow !== undefined) result.recordsCompacted = await this.compact(compactBelow);
      return result;
    } finally {
      this.maintaining = false;
    }
  }

  private async compact(below: number): Promise<number> {
    const key = this.policy.compactionKey!;
    const inputs: Segment[] = [];
    for (const s of this.segments.slice(0, -1)) {
      if (s.next > below) break;
      inputs.push(s);
    }
    if (inputs.length === 0 || (inputs.length === 1 && this.cleaned.has(inputs[0]))) return 0;
    const latest = new Map<string, number>();
    let before = 0;
    for (const s of inputs) {
      before += s.records;
      for await (const r of s.scan()) {
        const k = key(r);
        if (k !== null) latest.set(k, r.offset);
      }
    }
    const kept = async function* () {
      for (const s of inputs) {
        for await (const r of s.scan()) {
          const k = key(r);
          if (k === null || latest.get(k) === r.offset) yield r;
        }
      }
    };
    const output = await this.store.rewrite(inputs[0].base, kept());
    this.cleaned.add(output);
    // Appends only ever add segments at the end, so the inputs are still the first ones.
    this.segments = [output, ...this.segments.slice(inputs.length)];
    await inputs[0].retire(false); // its file was replaced by the output under the same name
    for (const s of inputs.slice(1)) await s.retire(true);
    return before - output.records;
  }

  async close(): Promise<void> {
    await this.writing;
    if (this.dirty) await this.active.sync().catch(() => undefined);
    await Promise.all(this.segments.map((s) => s.close()));
  }
}
