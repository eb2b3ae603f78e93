// One record of the embedded log's file format from before segments, written by hand from the
// format's definition (u32 length | u32 crc32 of the payload | payload: f64 timestamp | i32 key
// length | key | value), so tests can check the reader and the on-open conversion against it.
// src only reads this format, so the writer lives here and shares nothing with the codec.

import { crc32 } from 'node:zlib';

export function legacyLogRecord(key: string, value: string, timestampMs: number): Buffer {
  const k = Buffer.from(key);
  const payload = Buffer.alloc(12 + k.length + Buffer.byteLength(value));
  payload.writeDoubleBE(timestampMs, 0);
  payload.writeInt32BE(k.length, 8);
  k.copy(payload, 12);
  payload.write(value, 12 + k.length);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(payload.length, 0);
  header.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([header, payload]);
}
