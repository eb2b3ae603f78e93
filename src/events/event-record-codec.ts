// The binary record format of pmf.events.v2: one log record carries a batch of FeatureEvents whose
// users all map to the record's partition (the record's key is one of those users, so the
// ordinary key partitioner puts it there). Batching per partition is what makes the receiver
// cheap: one Kafka record per partition per request instead of one per span.
//
// Layout (integers little-endian; varint = unsigned LEB128; str = varint byte length + UTF-8):
//   record := "pe" (0x70 0x65), version 0x02, varint count, count × event
//   event  := varint bodyLength, body
//   body   := u8 bits, str user, f64 time, id, str name,
//             [f64 durationMs]                      when bits & HAS_DURATION
//             varint flagCount, flagCount × (str feature, str variant)
//             [varint attrCount, attrCount × (str key, str value)]   when bits & HAS_ATTRS
//             [str origin]                          when bits & HAS_ORIGIN (FeatureEvent.origin)
//   id     := str, or (bits & ID_HEX) varint n + n raw bytes, read back as lowercase hex text
// bits & SOURCE_LOG says source "log" (else "span"). A new optional field takes the next bit and
// goes after the attributes; because every event is length-prefixed, a reader that does not know
// the bit skips the bytes, so adding one never breaks a running aggregator.

import { PmfError } from '../core/errors.js';
import type { EventSource, FeatureEvent, FlagExposure } from './feature-event.js';

export const EVENT_RECORD_VERSION = 2;
const MAGIC_0 = 0x70;
const MAGIC_1 = 0x65;

export const HAS_DURATION = 1;
export const HAS_ATTRS = 2;
export const SOURCE_LOG = 4;
export const ID_HEX = 8;
export const HAS_ORIGIN = 16;

function fail(detail: string): never {
  throw new PmfError('ERR_EVENT_DECODE', `feature event record: ${detail}`);
}

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer, readonly end: number) {}

  varint(): number {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) fail('truncated varint');
      const b = this.buf[this.pos++];
      v += (b & 127) * 2 ** shift;
      if (b < 128) return v;
    }
    return fail('varint too long');
  }

  f64(): number {
    if (this.pos + 8 > this.end) fail('truncated number');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  str(): string {
    const n = this.varint();
    if (this.pos + n > this.end) fail('string past the end');
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  hex(): string {
    const n = this.varint();
    if (this.pos + n > this.end) fail('id past the end');
    const s = this.buf.toString('hex', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
}

function decodeEvent(r: Reader): FeatureEvent {
  const bits = r.buf[r.pos++];
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
    for (let i = 0; i < n; i++) attrs[r.str()] = r.str();
    event.attrs = attrs;
  }
  if (bits & HAS_ORIGIN) event.origin = r.str();
  if (!Number.isFinite(time) || (durationMs !== undefined && !(durationMs >= 0))) fail('time or duration out of range');
  return event;
}

/** True when the value starts like a pmf.events.v2 record (anything else is refused by the decoder). */
export function isEventRecord(buf: Buffer): boolean {
  return buf.length >= 3 && buf[0] === MAGIC_0 && buf[1] === MAGIC_1;
}

/** Every event of one record, in the order they were written. */
export function decodeEventRecord(buf: Buffer): FeatureEvent[] {
  if (!isEventRecord(buf)) fail('not a pmf.events.v2 record (bad magic)');
  if (buf[2] !== EVENT_RECORD_VERSION) fail(`unknown version ${buf[2]}`);
  const r = new Reader(buf, buf.length);
  r.pos = 3;
  const count = r.varint();
  const out: FeatureEvent[] = [];
  for (let i = 0; i < count; i++) {
    const len = r.varint();
    const end = r.pos + len;
    if (len < 1 || end > buf.length) fail('event past the end');
    const body = new Reader(buf, end);
    body.pos = r.pos;
    out.push(decodeEvent(body));
    // Bytes past what this reader knows are a newer optional field: skipped, by design.
    r.pos = end;
  }
  if (r.pos !== buf.length) fail('trailing bytes after the last event');
  return out;
}
