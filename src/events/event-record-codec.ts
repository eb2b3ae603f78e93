// Reading pmf.events records: one log record carries a batch of FeatureEvents whose users all map
// to the record's partition (the record's key is one of those users, so the ordinary key
// partitioner puts it there). decodeEventRecord reads every version still on a topic: version 3
// (event-record-v3.ts, what the receiver writes) and version 2 below (written by receivers before
// v3; kept so a topic holding both, and every replay of an older log, still reads).
//
// Version 2 layout (integers little-endian; varint = unsigned LEB128; str = varint byte length + UTF-8):
//   record := "pe" (0x70 0x65), version 0x02, varint count, count × event
//   event  := varint bodyLength, body
//   body   := u8 bits, str user, f64 time, id, str name,
//             [f64 durationMs]                      when bits & HAS_DURATION
//             varint flagCount, flagCount × (str feature, str variant)
//             [varint attrCount, attrCount × (str key, str value)]   when bits & HAS_ATTRS
//             [str origin]                          when bits & HAS_ORIGIN (FeatureEvent.origin)
//   id     := str, or (bits & ID_HEX) varint n + n raw bytes, read back as lowercase hex text
// bits & SOURCE_LOG says source "log" (else "span"). Bytes of a body past the fields a reader knows
// are skipped (a newer optional field).

import type { EventBody, EventSource, FeatureEvent, FlagExposure } from './feature-event.js';
import type { RecordIds } from './record-ids.js';
import { RecordReader, recordFail as fail, setAttr } from './record-reader.js';
import { decodeWatermarkMarker, WATERMARK_MARKER_VERSION } from './watermark-marker.js';
import { decodeEventRecordV3, decodeEventRecordV3Ids, EVENT_RECORD_V3, HAS_ATTRS, HAS_DURATION, HAS_ORIGIN, ID_HEX, SOURCE_LOG } from './event-record-v3.js';

export const EVENT_RECORD_V2 = 2;
const MAGIC_0 = 0x70;
const MAGIC_1 = 0x65;

function decodeEventV2(r: RecordReader): FeatureEvent {
  const bits = r.u8();
  const user = r.str();
  const time = r.f64();
  const id = bits & ID_HEX ? r.hex() : r.str();
  const name = r.str();
  const source: EventSource = bits & SOURCE_LOG ? 'log' : 'span';
  const durationMs = bits & HAS_DURATION ? r.f64() : undefined;
  const flagCount = r.varint();
  const flags: FlagExposure[] = [];
  for (let i = 0; i < flagCount; i++) flags.push({ feature: r.str(), variant: r.str() });
  const event: FeatureEvent = durationMs === undefined ? { user, time, id, name, flags, source } : { user, time, id, name, durationMs, flags, source };
  if (bits & HAS_ATTRS) {
    const attrs: Record<string, string> = {};
    const n = r.varint();
    for (let i = 0; i < n; i++) setAttr(attrs, r.str(), r.str());
    event.attrs = attrs;
  }
  if (bits & HAS_ORIGIN) event.origin = r.str();
  if (!Number.isFinite(time) || (durationMs !== undefined && !(durationMs >= 0))) fail('time or duration out of range');
  return event;
}

function decodeEventRecordV2(buf: Buffer): FeatureEvent[] {
  const r = new RecordReader(buf, buf.length);
  r.pos = 3;
  const count = r.varint();
  const out: FeatureEvent[] = [];
  for (let i = 0; i < count; i++) {
    const len = r.varint();
    const end = r.pos + len;
    if (len < 1 || end > buf.length) fail('event past the end');
    const body = new RecordReader(buf, end);
    body.pos = r.pos;
    out.push(decodeEventV2(body));
    r.pos = end;
  }
  if (r.pos !== buf.length) fail('trailing bytes after the last event');
  return out;
}

/** True when the value starts like a pmf.events record of any version (anything else is refused by the decoder). */
export function isEventRecord(buf: Buffer): boolean {
  return buf.length >= 3 && buf[0] === MAGIC_0 && buf[1] === MAGIC_1;
}

/**
 * Every event of one record (version 2 or 3), in the order they were written. A watermark marker
 * (version 4, watermark-marker.ts) holds none: checked whole, it reads as no events.
 */
export function decodeEventRecord(buf: Buffer): FeatureEvent[] {
  if (!isEventRecord(buf)) fail('not a pmf.events record (bad magic)');
  if (buf[2] === EVENT_RECORD_V3) return decodeEventRecordV3(buf);
  if (buf[2] === EVENT_RECORD_V2) return decodeEventRecordV2(buf);
  if (buf[2] === WATERMARK_MARKER_VERSION) {
    decodeWatermarkMarker(buf);
    return [];
  }
  return fail(`unknown version ${buf[2]}`);
}

/**
 * The same events without their users and ids, which go into `ids` (reset for this record): as
 * the record's raw bytes where it holds them so (version 3), else as text. The aggregator's path.
 * A version 3 record's bodies are ids' reused objects (record-ids.ts): valid until the next record
 * is decoded into `ids`, so nothing may keep one (or its flags) past that without copying it.
 */
export function decodeEventRecordIds(buf: Buffer, ids: RecordIds): EventBody[] {
  if (isEventRecord(buf) && buf[2] === EVENT_RECORD_V3) return decodeEventRecordV3Ids(buf, ids);
  const events = decodeEventRecord(buf);
  ids.reset(buf);
  for (let i = 0; i < events.length; i++) {
    ids.setUserText(i, events[i].user);
    ids.setIdText(i, events[i].id);
  }
  return events;
}
