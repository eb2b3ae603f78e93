// Segment files of one partition: <dir>/<base offset, 20 digits>.log. Opening one walks it in chunks
// (record-codec.ts) and keeps only a sparse index (one position per INDEX_EVERY bytes), so start-up
// memory does not grow with the data. Writes go at the known end with positional writes; a write
// that fails or stops short is cut back and reported as a retryable error, never taken as success.

import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { PmfError } from '../../core/errors.js';
import { syncDir } from './atomic-write.js';
import { diskError } from './disk-errors.js';
import { encodedSize, encodeRecords, scanRecords, CURRENT_LAYOUT, LEGACY_LAYOUT, type StoredRecord } from './record-codec.js';
import type { Segment, SegmentStore } from './segment.js';

/** The part of a FileHandle a segment uses; tests substitute failing writes. */
export interface SegmentIo {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export type OpenSegmentIo = (path: string, flags: 'r+' | 'w+') => Promise<SegmentIo>;

const openFileHandle: OpenSegmentIo = (path, flags) => open(path, flags) as Promise<FileHandle & SegmentIo>;

const INDEX_EVERY = 64 * 1024;
const NAME = /^(\d{20})\.log$/;

export const segmentName = (base: number) => `${String(base).padStart(20, '0')}.log`;

export class FileSegment implements Segment {
  next: number;
  size = 0;
  records = 0;
  maxTimestamp = Number.NEGATIVE_INFINITY;
  minTimestamp = Number.POSITIVE_INFINITY;
  /** Sparse (offset, byte position) pairs, ascending. */
  private readonly index: { offset: number; position: number }[] = [];
  private lastIndexed = Number.NEGATIVE_INFINITY;
  /**
   * Exact byte positions of recently appended groups and of where recent reads stopped: consumers
   * read on from exactly there, so a read rarely has to walk from the sparse index entry.
   */
  private readonly positions = new Map<number, number>();
  private failure: unknown;
  private readers = 0;
  private retired = false;
  private closing?: Promise<void>;

  private constructor(
    readonly base: number,
    readonly path: string,
    private readonly io: SegmentIo,
  ) {
    this.next = base;
  }

  static async create(path: string, base: number, openIo: OpenSegmentIo): Promise<FileSegment> {
    return new FileSegment(base, path, await openIo(path, 'w+'));
  }

  /** Opens an existing segment, walking it once; a torn tail (a crash mid-write) is cut off. */
  static async open(path: string, base: number, fileSize: number, openIo: OpenSegmentIo): Promise<FileSegment> {
    const segment = new FileSegment(base, path, await openIo(path, 'r+'));
    try {
      let valid = fileSize;
      for await (const { record, position, length } of scanRecords(segment.io, 0, fileSize, path, CURRENT_LAYOUT, (v) => (valid = v))) {
        if (record.offset < segment.next) {
          throw new PmfError('ERR_INTERNAL', `${path}: offset ${record.offset} at byte ${position} goes backwards; refusing to load`);
        }
        segment.track(record, position, length);
      }
      if (valid < fileSize) await segment.io.truncate(valid);
      segment.size = valid;
      return segment;
    } catch (err) {
      await segment.io.close();
      throw err;
    }
  }

  private track(r: StoredRecord, position: number, length: number): void {
    if (position - this.lastIndexed >= INDEX_EVERY) {
      this.index.push({ offset: r.offset, position });
      this.lastIndexed = position;
    }
    this.records++;
    this.next = r.offset + 1;
    this.maxTimestamp = Math.max(this.maxTimestamp, r.timestamp);
    this.minTimestamp = Math.min(this.minTimestamp, r.timestamp);
    this.size = position + length;
  }

  get broken(): boolean {
    return this.failure !== undefined;
  }

  /** Callers serialize appends. */
  async append(records: readonly StoredRecord[], sync: boolean): Promise<void> {
    if (this.failure !== undefined) {
      throw new PmfError('ERR_LOG_PRODUCE', `${this.path}: refuses writes after an earlier failure`, { retryable: true, cause: this.failure });
    }
    const bytes = encodeRecords(records);
    const start = this.size;
    let written = 0;
    let step = 'write';
    try {
      while (written < bytes.length) {
        const { bytesWritten } = await this.io.write(bytes, written, bytes.length - written, start + written);
        // No error and no progress: the file system took nothing (a full disk on some systems).
        if (bytesWritten <= 0) throw Object.assign(new Error(`short write: ${written} of ${bytes.length} bytes`), { code: 'ENOSPC' });
        written += bytesWritten;
      }
      step = 'fsync';
      // Bytes before `start` were synced by earlier appends, so cutting back to it after a failed
      // fsync drops exactly the unacknowledged records.
      if (sync) await this.io.datasync();
    } catch (err) {
      await this.undo(start, err);
      throw diskError(this.path, step, err, written > 0 ? ` after ${written} of ${bytes.length} bytes` : '');
    }
    let position = start;
    for (const r of records) {
      const length = encodedSize(r);
      this.track(r, position, length);
      position += length;
    }
    if (records.length > 0) this.remember(records[0].offset, start);
  }

  private remember(offset: number, position: number): void {
    this.positions.set(offset, position);
    if (this.positions.size > 256) this.positions.delete(this.positions.keys().next().value!);
  }

  async sync(): Promise<void> {
    try {
      await this.io.datasync();
    } catch (err) {
      // After a failed fsync the kernel may have dropped dirty pages of acknowledged records: this
      // file takes no more writes (the partition rolls to a new segment) and the failure is loud.
      this.failure = err;
      throw diskError(this.path, 'fsync', err);
    }
  }

  private async undo(start: number, err: unknown): Promise<void> {
    try {
      await this.io.truncate(start);
    } catch (truncErr) {
      this.failure = new AggregateError([err, truncErr]);
      throw new PmfError('ERR_LOG_PRODUCE', `${this.path}: write failed and could not be undone; the partition moves to a new segment`, {
        retryable: true,
        cause: this.failure,
      });
    }
  }

  async read(from: number, max: number, maxBytes: number): Promise<StoredRecord[]> {
    if (this.retired || from >= this.next) return [];
    this.readers++;
    try {
      let lo = 0;
      let hi = this.index.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.index[mid].offset <= from) lo = mid + 1;
        else hi = mid;
      }
      const start = this.positions.get(from) ?? (lo === 0 ? 0 : this.index[lo - 1].position);
      const out: StoredRecord[] = [];
      let bytes = 0;
      let end = start;
      for await (const { record, position, length } of scanRecords(this.io, start, this.size, this.path)) {
        end = position + length;
        if (record.offset < from) continue;
        out.push(record);
        bytes += length;
        if (out.length >= max || bytes >= maxBytes) break;
      }
      if (out.length > 0) this.remember(out[out.length - 1].offset + 1, end);
      return out;
    } finally {
      this.readers--;
      if (this.retired && this.readers === 0) void this.close();
    }
  }

  async *scan(): AsyncIterable<StoredRecord> {
    this.readers++;
    try {
      for await (const { record } of scanRecords(this.io, 0, this.size, this.path)) yield record;
    } finally {
      this.readers--;
      if (this.retired && this.readers === 0) void this.close();
    }
  }

  async retire(unlink: boolean): Promise<void> {
    this.retired = true;
    // An unlinked file stays readable through open handles: reads in flight finish first.
    if (unlink) await rm(this.path, { force: true });
    if (this.readers === 0) await this.close();
  }

  close(): Promise<void> {
    return (this.closing ??= this.io.close());
  }
}

export class FileSegmentStore implements SegmentStore {
  constructor(
    private readonly dir: string,
    private readonly fsync: boolean,
    private readonly openIo: OpenSegmentIo = openFileHandle,
  ) {}

  async load(): Promise<Segment[]> {
    await mkdir(this.dir, { recursive: true });
    const entries = await readdir(this.dir, { withFileTypes: true });
    const bases: number[] = [];
    for (const e of entries) {
      const m = NAME.exec(e.name);
      if (m) bases.push(Number(m[1]));
      // A compaction output that never replaced its input (a crash in between).
      else if (e.name.endsWith('.cleaned')) await rm(join(this.dir, e.name), { force: true });
    }
    bases.sort((a, b) => a - b);
    const segments: FileSegment[] = [];
    try {
      for (const base of bases) {
        const path = join(this.dir, segmentName(base));
        const prev = segments.at(-1);
        // A compaction crashed after replacing its first input and before deleting the others:
        // every record they hold is either in the rewritten segment or superseded by a later one.
        if (prev && base < prev.next) {
          await rm(path, { force: true });
          continue;
        }
        const handle = await open(path, 'r');
        const { size } = await handle.stat().finally(() => handle.close());
        segments.push(await FileSegment.open(path, base, size, this.openIo));
      }
    } catch (err) {
      await Promise.all(segments.map((s) => s.close()));
      throw err;
    }
    return segments;
  }

  async create(base: number): Promise<Segment> {
    const segment = await FileSegment.create(join(this.dir, segmentName(base)), base, this.openIo);
    if (this.fsync) await syncDir(this.dir);
    return segment;
  }

  async rewrite(base: number, records: AsyncIterable<StoredRecord>): Promise<Segment> {
    const path = join(this.dir, segmentName(base));
    const tmp = `${path}.cleaned`;
    const out = await FileSegment.create(tmp, base, this.openIo);
    try {
      let batch: StoredRecord[] = [];
      for await (const r of records) {
        batch.push(r);
        if (batch.length >= 500) {
          await out.append(batch, false);
          batch = [];
        }
      }
      if (batch.length > 0) await out.append(batch, false);
      // Always durable before the rename, whatever the fsync policy: a rename that reached the disk
      // before the data would replace good records with a hole.
      await out.sync();
    } catch (err) {
      await out.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await out.close();
    await rename(tmp, path);
    await syncDir(this.dir);
    const size = out.size;
    return FileSegment.open(path, base, size, this.openIo);
  }

  /**
   * Converts a partition file of the format before segments (<topic>/<p>.log, offsets implied by
   * position) into segment 0, streamed. The old file goes only after the new one is durable; a
   * crash in between converts again from scratch.
   */
  async convertLegacy(legacyPath: string): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    await mkdir(this.dir, { recursive: true });
    const handle = await open(legacyPath, 'r');
    try {
      const { size } = await handle.stat();
      const records = async function* () {
        for await (const { record } of scanRecords(handle, 0, size, legacyPath, LEGACY_LAYOUT)) yield record;
      };
      await (await this.rewrite(0, records())).close();
    } finally {
      await handle.close();
    }
    await rm(legacyPath);
    await syncDir(join(this.dir, '..'));
  }
}
