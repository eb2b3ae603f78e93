// One append-only file per topic-partition. Each record is
//   u32 payload length | u32 crc32(payload) | payload
//   payload = f64 timestamp | i32 key length (-1 = null) | key utf8 | value
// all big-endian. A record cut short or failing its CRC at the very end of the file is a write torn
// by a crash (never acknowledged, since send resolves after the write) and is truncated away on
// load; a bad record followed by more data is corruption and refuses to load.

import { crc32 } from 'node:zlib';
import { open, type FileHandle } from 'node:fs/promises';
import { PmfError } from '../../core/errors.js';

export interface StoredRecord {
  key: string | null;
  value: Buffer;
  timestamp: number;
}

const HEADER = 8;
const PAYLOAD_FIXED = 12;

export function encodeRecords(records: readonly StoredRecord[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const key = r.key === null ? null : Buffer.from(r.key, 'utf8');
    const payload = Buffer.allocUnsafe(PAYLOAD_FIXED + (key?.length ?? 0) + r.value.length);
    payload.writeDoubleBE(r.timestamp, 0);
    payload.writeInt32BE(key === null ? -1 : key.length, 8);
    let at = PAYLOAD_FIXED;
    if (key !== null) at += key.copy(payload, at);
    r.value.copy(payload, at);
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt32BE(payload.length, 0);
    header.writeUInt32BE(crc32(payload), 4);
    parts.push(header, payload);
  }
  return Buffer.concat(parts);
}

export interface DecodedSegment {
  records: StoredRecord[];
  /** Bytes up to the end of the last good record. */
  validBytes: number;
}

export function decodeSegment(buf: Buffer, where: string): DecodedSegment {
  const records: StoredRecord[] = [];
  let at = 0;
  while (at < buf.length) {
    const bad = (why: string): DecodedSegment => {
      if (isTail(buf, at)) return { records, validBytes: at };
      throw new PmfError('ERR_INTERNAL', `${where}: corrupt record at byte ${at} (${why}); refusing to load`);
    };
    if (buf.length - at < HEADER) return bad('short header');
    const length = buf.readUInt32BE(at);
    const end = at + HEADER + length;
    if (length < PAYLOAD_FIXED || end > buf.length) return bad('bad length');
    const payload = buf.subarray(at + HEADER, end);
    if (crc32(payload) !== buf.readUInt32BE(at + 4)) return bad('crc mismatch');
    const keyLength = payload.readInt32BE(8);
    if (keyLength < -1 || PAYLOAD_FIXED + Math.max(keyLength, 0) > payload.length) return bad('bad key length');
    const valueStart = PAYLOAD_FIXED + Math.max(keyLength, 0);
    records.push({
      timestamp: payload.readDoubleBE(0),
      key: keyLength < 0 ? null : payload.toString('utf8', PAYLOAD_FIXED, valueStart),
      // Copy so the whole file buffer is not kept alive by one record.
      value: Buffer.from(payload.subarray(valueStart)),
    });
    at = end;
  }
  return { records, validBytes: at };
}

// A torn write is the last thing in the file: the bad record's declared length reaches past the end
// (or its header is cut), so nothing decodable follows it.
function isTail(buf: Buffer, at: number): boolean {
  if (buf.length - at < HEADER) return true;
  return at + HEADER + buf.readUInt32BE(at) >= buf.length;
}

export class SegmentFile {
  private broken: unknown;

  private constructor(
    private readonly handle: FileHandle,
    private size: number,
    private readonly path: string,
    private readonly fsync: boolean,
  ) {}

  /** Opens (creating if needed) and loads a segment, cutting off a torn tail. */
  static async open(path: string, fsync: boolean): Promise<{ file: SegmentFile; records: StoredRecord[] }> {
    const handle = await open(path, 'a+');
    try {
      const buf = await handle.readFile();
      const { records, validBytes } = decodeSegment(buf, path);
      if (validBytes < buf.length) await handle.truncate(validBytes);
      return { file: new SegmentFile(handle, validBytes, path, fsync), records };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Callers serialize appends; a failed write is cut back so the file stays decodable. */
  async append(records: readonly StoredRecord[]): Promise<void> {
    if (this.broken !== undefined) {
      throw new PmfError('ERR_LOG_PRODUCE', `${this.path}: an earlier write could not be undone`, { cause: this.broken });
    }
    const bytes = encodeRecords(records);
    try {
      await this.handle.write(bytes, 0, bytes.length);
      if (this.fsync) await this.handle.datasync();
      this.size += bytes.length;
    } catch (err) {
      await this.handle.truncate(this.size).catch((truncErr: unknown) => {
        this.broken = new AggregateError([err, truncErr]);
        throw new PmfError('ERR_LOG_PRODUCE', `${this.path}: write failed and could not be undone`, {
          cause: this.broken,
        });
      });
      throw new PmfError('ERR_LOG_PRODUCE', `${this.path}: write failed`, { retryable: true, cause: err });
    }
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
