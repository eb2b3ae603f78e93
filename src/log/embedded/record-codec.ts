// The byte format of the embedded log's segment files, and a decoder that walks a file in fixed
// chunks so that opening a log costs one chunk of memory, not the size of its files. A record is
//   u32 payload length | u32 crc32(payload) | payload
//   payload = u64 offset | f64 timestamp | i32 key length (-1 = null) | key utf8 | value
// all big-endian. The offset is stored because compaction leaves holes in a segment's offsets.
// Files written before segments existed (one `<p>.log` per partition) used the same framing without
// the offset field; LEGACY_LAYOUT reads them so they can be converted once.

import { crc32 } from 'node:zlib';
import { PmfError } from '../../core/errors.js';

export interface StoredRecord {
  offset: number;
  key: string | null;
  value: Buffer;
  timestamp: number;
}

interface Layout {
  /** Fixed payload bytes before the key. */
  fixed: number;
  hasOffset: boolean;
}

export const HEADER = 8;
export const CURRENT_LAYOUT: Layout = { fixed: 20, hasOffset: true };
export const LEGACY_LAYOUT: Layout = { fixed: 12, hasOffset: false };

export function encodedSize(r: Pick<StoredRecord, 'key' | 'value'>): number {
  return HEADER + CURRENT_LAYOUT.fixed + (r.key === null ? 0 : Buffer.byteLength(r.key, 'utf8')) + r.value.length;
}

export function encodeRecords(records: readonly StoredRecord[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const key = r.key === null ? null : Buffer.from(r.key, 'utf8');
    const fixed = CURRENT_LAYOUT.fixed;
    const payload = Buffer.allocUnsafe(fixed + (key?.length ?? 0) + r.value.length);
    payload.writeBigUInt64BE(BigInt(r.offset), 0);
    payload.writeDoubleBE(r.timestamp, 8);
    payload.writeInt32BE(key === null ? -1 : key.length, 16);
    let at = fixed;
    if (key !== null) at += key.copy(payload, at);
    r.value.copy(payload, at);
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt32BE(payload.length, 0);
    header.writeUInt32BE(crc32(payload), 4);
    parts.push(header, payload);
  }
  return Buffer.concat(parts);
}

type Step = { record: StoredRecord; length: number } | { need: number } | { bad: string };

/** Decodes the record at `at` of buf (a window of the file); `need` = bytes required from `at`. */
function decodeAt(buf: Buffer, at: number, layout: Layout, legacyOffset: number): Step {
  if (buf.length - at < HEADER) return { need: HEADER };
  const length = buf.readUInt32BE(at);
  if (length < layout.fixed) return { bad: 'bad length' };
  if (buf.length - at < HEADER + length) return { need: HEADER + length };
  const payload = buf.subarray(at + HEADER, at + HEADER + length);
  if (crc32(payload) !== buf.readUInt32BE(at + 4)) return { bad: 'crc mismatch' };
  const base = layout.hasOffset ? 8 : 0;
  const keyLength = payload.readInt32BE(base + 8);
  if (keyLength < -1 || layout.fixed + Math.max(keyLength, 0) > payload.length) return { bad: 'bad key length' };
  const valueStart = layout.fixed + Math.max(keyLength, 0);
  return {
    length: HEADER + length,
    record: {
      offset: layout.hasOffset ? Number(payload.readBigUInt64BE(0)) : legacyOffset,
      timestamp: payload.readDoubleBE(base),
      key: keyLength < 0 ? null : payload.toString('utf8', layout.fixed, valueStart),
      // Copy so the chunk buffer is not kept alive by one record.
      value: Buffer.from(payload.subarray(valueStart)),
    },
  };
}

/** Positional reads of a file; FileHandle fits, and tests can fake it. */
export interface ReadAt {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

export interface ScannedRecord {
  record: StoredRecord;
  /** Byte position of the record's header in the file. */
  position: number;
  length: number;
}

export const SCAN_CHUNK = 256 * 1024;

/**
 * Walks records from `from` to `end` (file size), a chunk at a time. A bad record whose declared
 * length reaches the end of the file is a write torn by a crash (never acknowledged): the walk stops
 * and `onEnd` gets the valid length. A bad record followed by more data is corruption: it throws.
 */
export async function* scanRecords(
  file: ReadAt,
  from: number,
  end: number,
  where: string,
  layout: Layout = CURRENT_LAYOUT,
  onEnd: (validBytes: number) => void = () => undefined,
): AsyncGenerator<ScannedRecord> {
  // Small reads near the end of a file (the usual consumer read) get a small buffer.
  let chunk = Buffer.allocUnsafe(Math.max(HEADER, Math.min(SCAN_CHUNK, end - from)));
  let windowStart = from;
  let window = chunk.subarray(0, 0);
  let at = 0;
  let legacyOffset = 0;
  while (windowStart + at < end) {
    const step = decodeAt(window, at, layout, legacyOffset);
    if ('record' in step) {
      yield { record: step.record, position: windowStart + at, length: step.length };
      at += step.length;
      legacyOffset++;
      continue;
    }
    const position = windowStart + at;
    if ('bad' in step) {
      if (isTail(window, at, position, end)) return onEnd(position);
      throw new PmfError('ERR_INTERNAL', `${where}: corrupt record at byte ${position} (${step.bad}); refusing to load`);
    }
    if (position + step.need > end) return onEnd(position); // cut short at the end: torn
    // Refill from the current record, growing the buffer for a record larger than a chunk.
    if (step.need > chunk.length) chunk = Buffer.allocUnsafe(step.need);
    const want = Math.min(chunk.length, end - position);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await file.read(chunk, got, want - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got < step.need) return onEnd(position);
    windowStart = position;
    window = chunk.subarray(0, got);
    at = 0;
  }
  onEnd(end);
}

// A torn write is the last thing in the file: the bad record's declared length reaches past the end
// (or its header is cut), so nothing decodable follows it.
function isTail(window: Buffer, at: number, position: number, end: number): boolean {
  if (window.length - at < HEADER) return true;
  return position + HEADER + window.readUInt32BE(at) >= end;
}
