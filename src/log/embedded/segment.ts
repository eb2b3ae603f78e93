// A segment is one contiguous run of a partition's offsets, the unit that retention deletes and
// compaction rewrites. The partition log (partition-log.ts) only sees this interface; segment files
// (file-segment.ts) back it with a data directory, MemorySegment without one.

import { encodedSize, type StoredRecord } from './record-codec.js';

export interface Segment {
  /** First offset this segment may hold (its name on disk). */
  readonly base: number;
  /** Offset after its last record; base while empty. */
  readonly next: number;
  /** Bytes, as encoded on disk. */
  readonly size: number;
  readonly records: number;
  /** Newest append time in it, -Infinity while empty. */
  readonly maxTimestamp: number;
  /** Append time of its first record: a segment older than segmentMs is rolled. */
  readonly minTimestamp: number;
  /** True after a failed fsync of acknowledged bytes: the partition rolls to a new segment. */
  readonly broken: boolean;
  /**
   * Writes, and with sync also fdatasyncs, the records. On any failure the file is cut back to
   * where it was and the error thrown, so nothing half-written is ever acknowledged.
   */
  append(records: readonly StoredRecord[], sync: boolean): Promise<void>;
  /** Makes every appended byte durable (the interval policy's timer); a no-op in memory. */
  sync(): Promise<void>;
  /** Records with offset >= from, at most max of them and about maxBytes (at least one). */
  read(from: number, max: number, maxBytes: number): Promise<StoredRecord[]>;
  /** Every record in offset order, streamed (compaction). */
  scan(): AsyncIterable<StoredRecord>;
  /** Drops it: deletes its file (unless replaced under the same name) once no read uses it. */
  retire(unlink: boolean): Promise<void>;
  close(): Promise<void>;
}

/** Creates, loads and rewrites the segments of one partition. */
export interface SegmentStore {
  /** Segments already there, oldest first (streamed from disk: only indexes stay in memory). */
  load(): Promise<Segment[]>;
  create(base: number): Promise<Segment>;
  /**
   * A new segment named `base` holding records (compaction output), made durable before it
   * replaces the segment of that name, so a crash leaves the old or the new one, never a mix.
   */
  rewrite(base: number, records: AsyncIterable<StoredRecord>): Promise<Segment>;
}

export class MemorySegment implements Segment {
  private readonly list: StoredRecord[] = [];
  next: number;
  size = 0;
  maxTimestamp = Number.NEGATIVE_INFINITY;
  minTimestamp = Number.POSITIVE_INFINITY;
  readonly broken = false;

  constructor(readonly base: number) {
    this.next = base;
  }

  get records(): number {
    return this.list.length;
  }

  async append(records: readonly StoredRecord[], _sync: boolean): Promise<void> {
    for (const r of records) {
      this.list.push(r);
      this.size += encodedSize(r);
      this.next = r.offset + 1;
      this.maxTimestamp = Math.max(this.maxTimestamp, r.timestamp);
      this.minTimestamp = Math.min(this.minTimestamp, r.timestamp);
    }
  }

  async sync(): Promise<void> {}

  async read(from: number, max: number, maxBytes: number): Promise<StoredRecord[]> {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.list[mid].offset < from) lo = mid + 1;
      else hi = mid;
    }
    const out: StoredRecord[] = [];
    let bytes = 0;
    for (let i = lo; i < this.list.length && out.length < max && (out.length === 0 || bytes < maxBytes); i++) {
      out.push(this.list[i]);
      bytes += encodedSize(this.list[i]);
    }
    return out;
  }

  async *scan(): AsyncIterable<StoredRecord> {
    yield* this.list;
  }

  async retire(): Promise<void> {}

  async close(): Promise<void> {}
}

export class MemorySegmentStore implements SegmentStore {
  async load(): Promise<Segment[]> {
    return [];
  }

  async create(base: number): Promise<Segment> {
    return new MemorySegment(base);
  }

  async rewrite(base: number, records: AsyncIterable<StoredRecord>): Promise<Segment> {
    const segment = new MemorySegment(base);
    for await (const r of records) await segment.append([r], false);
    return segment;
  }
}
