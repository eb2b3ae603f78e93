// Version 3 of the pmf.events record, the one the receiver writes (event-record-writer.ts). It holds
// the same events as version 2 in about half the bytes, because under load the Kafka client's cost
// (copying each record through several zero-filled encoder buffers, CRC, socket writes, and the
// garbage all that leaves) grows with the bytes: pseudonyms and span ids travel as raw bytes, and
// every name, feature, variant, attribute and origin string is written once per record in a name
// table and referred to by index.
//
// Layout (integers little-endian; varint = unsigned LEB128; str = varint byte length + UTF-8):
//   record := segment, segment*         (segments laid end to end: one partition's joined records)
//   segment:= "pe" (0x70 0x65), version 0x03, u32 tableOffset, varint count (5 bytes), count × event, table
//   table  := varint n, n × str          (at tableOffset from the segment's start; ends the segment)
//   event  := u8 bits, user, f64 time, id, ref name,
//             [f64 durationMs]                                  when bits & HAS_DURATION
//             varint flagCount, flagCount × (ref feature, ref variant)
//             [varint attrCount, attrCount × (ref key, ref value)]   when bits & HAS_ATTRS
//             [ref origin]                                      when bits & HAS_ORIGIN
//             [varint extLength, extLength bytes]               when bits & HAS_EXT
//   user   := (bits & USER_HEX16) 16 raw bytes, read back as 32 lowercase hex; else str
//   id     := (bits & ID_HEX) varint n + n raw bytes, read back as lowercase hex; else str
//   ref    := varint index into the table
// bits & SOURCE_LOG says source "log" (else "span"). A field added later goes into the extension
// bytes, which a reader that does not know it skips, so adding one never breaks a running
// aggregator; a change readers must understand takes a new version byte.

import type { EventBody, EventSource, FeatureEvent, FlagExposure } from './feature-event.js';
import type { RecordIds } from './record-ids.js';
import { RecordReader, recordFail as fail, setAttr } from './record-reader.js';

export const EVENT_RECORD_V3 = 3;
/** Magic and version (3 bytes), the table offset (4), the event count as a fixed 5-byte varint. */
export const V3_HEADER_BYTES = 12;

// Bits 1 to 16 mean the same in version 2.
export const HAS_DURATION = 1;
export const HAS_ATTRS = 2;
export const SOURCE_LOG = 4;
export const ID_HEX = 8;
export const HAS_ORIGIN = 16;
export const USER_HEX16 = 32;
export const HAS_EXT = 128;

/** The name table starting at `at`, and where it ends (the end of its segment). */
function names(buf: Buffer, at: number): { table: string[]; end: number } {
  const r = new RecordReader(buf, buf.length);
  r.pos = at;
  const n = r.varint();
  // Every entry takes at least one byte: a larger count is garbage, refused before any allocation.
  if (n > buf.length - r.pos) fail('name table count past the end');
  const table: string[] = [];
  for (let i = 0; i < n; i++) table.push(r.str());
  return { table, end: r.pos };
}

function ref(r: RecordReader, table: readonly string[]): string {
  const i = r.varint();
  if (i >= table.length) fail(`name index ${i} outside a table of ${table.length}`);
  return table[i];
}

/** One event, its user and id as hex text. */
function decodeEvent(r: RecordReader, table: readonly string[]): FeatureEvent {
  const bits = r.u8();
  const user = bits & USER_HEX16 ? r.hexOf(16) : r.str();
  const time = r.f64();
  const id = bits & ID_HEX ? r.hex() : r.str();
  const name = ref(r, table);
  const source: EventSource = bits & SOURCE_LOG ? 'log' : 'span';
  const durationMs = bits & HAS_DURATION ? r.f64() : undefined;
  const flagCount = r.varint();
  const flags: FlagExposure[] = [];
  for (let k = 0; k < flagCount; k++) flags.push({ feature: ref(r, table), variant: ref(r, table) });
  // One object literal per shape, so every event of a shape shares V8's hidden class.
  const event: FeatureEvent = durationMs === undefined ? { user, time, id, name, flags, source } : { user, time, id, name, durationMs, flags, source };
  if (bits & HAS_ATTRS) event.attrs = attrsOf(r, table);
  if (bits & HAS_ORIGIN) event.origin = ref(r, table);
  if (bits & HAS_EXT) r.skip(r.varint());
  if (!Number.isFinite(time) || (durationMs !== undefined && !(durationMs >= 0))) fail('time or duration out of range');
  return event;
}

/** One event into `ids`: its user and id as event `i` (byte offsets where the record holds raw bytes), the rest into its reused body (record-ids.ts). */
function decodeEventInto(r: RecordReader, table: readonly string[], ids: RecordIds, i: number): EventBody {
  const bits = r.u8();
  if (bits & USER_HEX16) ids.setUserBytes(i, r.take(16));
  else ids.setUserText(i, r.str());
  const time = r.f64();
  if (bits & ID_HEX) {
    const n = r.varint();
    ids.setIdBytes(i, r.take(n), n);
  } else ids.setIdText(i, r.str());
  const event = ids.body(i);
  event.time = time;
  event.name = ref(r, table);
  event.source = bits & SOURCE_LOG ? 'log' : 'span';
  const durationMs = bits & HAS_DURATION ? r.f64() : undefined;
  event.durationMs = durationMs;
  const flagCount = r.varint();
  // Every flag takes at least two bytes: a larger count is garbage, refused before allocating for it.
  if (2 * flagCount > r.end - r.pos) fail('flag count past the end');
  const flags = ids.flags(i, flagCount);
  for (let k = 0; k < flagCount; k++) {
    const f = flags[k];
    f.feature = ref(r, table);
    f.variant = ref(r, table);
  }
  event.attrs = bits & HAS_ATTRS ? attrsOf(r, table) : undefined;
  event.origin = bits & HAS_ORIGIN ? ref(r, table) : undefined;
  if (bits & HAS_EXT) r.skip(r.varint());
  if (!Number.isFinite(time) || (durationMs !== undefined && !(durationMs >= 0))) fail('time or duration out of range');
  return event;
}

function attrsOf(r: RecordReader, table: readonly string[]): Record<string, string> {
  const attrs: Record<string, string> = {};
  const n = r.varint();
  for (let k = 0; k < n; k++) setAttr(attrs, ref(r, table), ref(r, table));
  return attrs;
}

/** The events of the segment at `start`, appended to `out`; returns where the segment ends. */
function decodeSegment(buf: Buffer, start: number, out: EventBody[], ids: RecordIds | undefined): number {
  if (buf.length - start < V3_HEADER_BYTES + 1) fail('truncated header');
  if (buf[start] !== 0x70 || buf[start + 1] !== 0x65 || buf[start + 2] !== EVENT_RECORD_V3) fail('a segment does not start with the version 3 header');
  const tableAt = start + buf.readUInt32LE(start + 3);
  if (tableAt < start + V3_HEADER_BYTES || tableAt >= buf.length) fail('name table outside the record');
  const { table, end } = names(buf, tableAt);
  const r = new RecordReader(buf, tableAt);
  r.pos = start + 7;
  const count = r.varint();
  if (count > tableAt - start) fail('event count past the end');
  for (let i = 0; i < count; i++) out.push(ids === undefined ? decodeEvent(r, table) : decodeEventInto(r, table, ids, out.length));
  if (r.pos !== tableAt) fail('bytes between the last event and the name table');
  return end;
}

/**
 * Every event of a version 3 record (magic and version already checked by the caller): its
 * segments in order. A record is one segment as the writer finishes it, or several laid end to end
 * (the sink joins one partition's records of concurrent requests into one Kafka record).
 */
export function decodeEventRecordV3(buf: Buffer): FeatureEvent[] {
  return decodeSegments(buf, undefined) as FeatureEvent[];
}

/**
 * The same, each event's user and id into `ids` (reset for this record) instead of the events, and
 * the bodies ids' reused ones: valid until the next record is decoded into `ids`.
 */
export function decodeEventRecordV3Ids(buf: Buffer, ids: RecordIds): EventBody[] {
  ids.reset(buf);
  return decodeSegments(buf, ids);
}

function decodeSegments(buf: Buffer, ids: RecordIds | undefined): EventBody[] {
  const out: EventBody[] = [];
  let at = 0;
  do at = decodeSegment(buf, at, out, ids);
  while (at < buf.length);
  return out;
}
