// The watermark marker: a pmf.events record that carries no events, only "this receiver has
// published events of these sources up to these event times". A receiver writes one to a
// partition it has not written to for a while (receiver/idle-marker.ts), so a partition that few
// users hash to does not hold every feature's verdicts until its next event. The aggregator reads a
// mark exactly as an event of that source at that time (source-watermark.ts), without data; the
// marker is in the log, so a replay of the log computes the same watermarks as the live run did.
//
// Layout (integers little-endian; varint = unsigned LEB128; str = varint byte length + UTF-8):
//   record := "pe" (0x70 0x65), version 0x04, varint n, n × mark
//   mark   := str origin, f64 time       (origin "" = events without one, FeatureEvent.origin)
// Readers from before version 4 refuse it as an unknown version (a counted ERR_EVENT_DECODE), so
// they must be upgraded before receivers write markers (docs/contract.md).

import { ByteWriter } from '../core/byte-codec.js';
import { RecordReader, recordFail as fail } from './record-reader.js';

export const WATERMARK_MARKER_VERSION = 4;

/** One source's highest event time published by the receiver that wrote the marker. */
export interface SourceMark {
  origin: string;
  time: number;
}

export function isWatermarkMarker(buf: Buffer): boolean {
  return buf.length >= 3 && buf[0] === 0x70 && buf[1] === 0x65 && buf[2] === WATERMARK_MARKER_VERSION;
}

export function encodeWatermarkMarker(marks: readonly SourceMark[]): Buffer {
  const w = new ByteWriter(16 + marks.length * 24).byte(0x70).byte(0x65).byte(WATERMARK_MARKER_VERSION).varint(marks.length);
  for (const m of marks) w.string(m.origin).float64(m.time);
  return w.finish();
}

/** The marks of a marker record; ERR_EVENT_DECODE for anything else or a damaged one. */
export function decodeWatermarkMarker(buf: Buffer): SourceMark[] {
  if (!isWatermarkMarker(buf)) fail('not a watermark marker');
  const r = new RecordReader(buf, buf.length);
  r.pos = 3;
  const n = r.varint();
  // Every mark takes at least 9 bytes: a larger count is garbage, refused before any allocation.
  if (n * 9 > buf.length - r.pos) fail('marker count past the end');
  const out: SourceMark[] = [];
  for (let i = 0; i < n; i++) {
    const origin = r.str();
    const time = r.f64();
    if (!Number.isFinite(time)) fail('marker time out of range');
    out.push({ origin, time });
  }
  if (r.pos !== buf.length) fail('trailing bytes after the last mark');
  return out;
}

