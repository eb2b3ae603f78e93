// Writes pmf.events.v2 records (layout in event-record-codec.ts) into one reusable buffer, so the
// receiver's per-span path allocates nothing: strings go straight from the decoded request into
// the record bytes, span ids as raw bytes. finish() copies the record out once per record.

import { EVENT_RECORD_VERSION, HAS_ATTRS, HAS_DURATION, HAS_ORIGIN, SOURCE_LOG } from './event-record-codec.js';
import type { FeatureEvent } from './feature-event.js';

const HEADER = 3;
/** The event count is written in a fixed 5-byte varint, so it can be patched at finish(). */
const COUNT_BYTES = 5;
/** Event bodies are length-prefixed with a fixed 3-byte varint (up to 2 MiB; bodies are capped far below). */
const LENGTH_BYTES = 3;
const MAX_BODY = 2 ** 21 - 1;

export class EventRecordWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private pos = HEADER + COUNT_BYTES;
  private eventStart = -1;
  /** Events in the record being written. */
  count = 0;

  /** Bytes the record would take if finished now. */
  get size(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Starts an event; the caller then writes its fields in layout order and calls endEvent(). */
  beginEvent(bits: number, user: string, time: number): void {
    this.ensure(LENGTH_BYTES + 1 + 9);
    this.eventStart = this.pos;
    this.pos += LENGTH_BYTES;
    this.buf[this.pos++] = bits;
    this.str(user);
    this.f64(time);
  }

  endEvent(): void {
    const start = this.eventStart;
    const len = this.pos - start - LENGTH_BYTES;
    if (len > MAX_BODY) throw new RangeError(`event of ${len} bytes is past the record format's limit`);
    this.buf[start] = (len & 127) | 128;
    this.buf[start + 1] = ((len >>> 7) & 127) | 128;
    this.buf[start + 2] = len >>> 14;
    this.eventStart = -1;
    this.count++;
  }

  /** Drops the event begun last (a rejection found after it was started). */
  abandonEvent(): void {
    if (this.eventStart < 0) return;
    this.pos = this.eventStart;
    this.eventStart = -1;
  }

  varint(n: number): void {
    this.ensure(5);
    const b = this.buf;
    while (n >= 128) {
      b[this.pos++] = (n & 127) | 128;
      n >>>= 7;
    }
    b[this.pos++] = n;
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  str(s: string): void {
    const n = s.length;
    if (n < 128) {
      // ASCII, the common case, is copied by hand: cheaper than a native call for short strings.
      this.ensure(1 + n);
      const b = this.buf;
      const start = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 128) break;
        b[start + i] = c;
      }
      if (i === n) {
        b[this.pos] = n;
        this.pos = start + n;
        return;
      }
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.varint(bytes);
    this.ensure(bytes);
    this.buf.write(s, this.pos, bytes, 'utf8');
    this.pos += bytes;
  }

  /** An id as raw bytes (read back as hex): the trace id and span id of a span, concatenated. */
  idBytes(a: Uint8Array, b: Uint8Array): void {
    const n = a.length + b.length;
    this.varint(n);
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < a.length; i++) buf[p++] = a[i];
    for (let i = 0; i < b.length; i++) buf[p++] = b[i];
    this.pos = p;
  }

  /** Writes a whole event object (the general path: tests, tools, non-span sources). */
  writeEvent(e: FeatureEvent): void {
    const attrs = e.attrs ? Object.entries(e.attrs) : [];
    let bits = e.source === 'log' ? SOURCE_LOG : 0;
    if (e.durationMs !== undefined) bits |= HAS_DURATION;
    if (attrs.length > 0) bits |= HAS_ATTRS;
    if (e.origin !== undefined) bits |= HAS_ORIGIN;
    this.beginEvent(bits, e.user, e.time);
    this.str(e.id);
    this.str(e.name);
    if (e.durationMs !== undefined) this.f64(e.durationMs);
    this.varint(e.flags.length);
    for (const f of e.flags) {
      this.str(f.feature);
      this.str(f.variant);
    }
    if (attrs.length > 0) {
      this.varint(attrs.length);
      for (const [k, v] of attrs) {
        this.str(k);
        this.str(v);
      }
    }
    if (e.origin !== undefined) this.str(e.origin);
    this.endEvent();
  }

  /** The record written so far, copied out; the writer is then empty again. */
  finish(): Buffer {
    const b = this.buf;
    b[0] = 0x70;
    b[1] = 0x65;
    b[2] = EVENT_RECORD_VERSION;
    let n = this.count;
    for (let i = 0; i < COUNT_BYTES - 1; i++) {
      b[HEADER + i] = (n & 127) | 128;
      n >>>= 7;
    }
    b[HEADER + COUNT_BYTES - 1] = n & 127;
    const out = Buffer.allocUnsafe(this.pos);
    b.copy(out, 0, 0, this.pos);
    this.reset();
    return out;
  }

  reset(): void {
    this.pos = HEADER + COUNT_BYTES;
    this.count = 0;
    this.eventStart = -1;
  }
}

/** One record holding these events, in order (tests and tools; the receiver writes field by field). */
export function encodeEventRecord(events: readonly FeatureEvent[]): Buffer {
  const w = new EventRecordWriter();
  for (const e of events) w.writeEvent(e);
  return w.finish();
}
