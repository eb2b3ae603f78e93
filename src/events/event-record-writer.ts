// Writes pmf.events version 3 records (layout in event-record-v3.ts) into one reusable buffer, so
// the receiver's per-span path allocates nothing: strings go straight from the decoded request into
// the record bytes or its name table, pseudonyms and span ids as raw bytes. finish() copies the
// record out once per record.

import type { FeatureEvent } from './feature-event.js';
import { EVENT_RECORD_V3, HAS_ATTRS, HAS_DURATION, HAS_ORIGIN, ID_HEX, SOURCE_LOG, USER_HEX16, V3_HEADER_BYTES } from './event-record-v3.js';

const COUNT_AT = 7;
const COUNT_BYTES = 5;
/** Names compared with === before the map: a record usually has a handful, and hashing a fresh string costs more. */
const SCANNED_NAMES = 8;
const PSEUDONYM_BYTES = 16;

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

export class EventRecordWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private pos = V3_HEADER_BYTES;
  private eventStart = -1;
  private readonly names: string[] = [];
  private readonly nameIndex = new Map<string, number>();
  private tableBytes = 1;
  /** Events in the record being written. */
  count = 0;

  /** Bytes the record would take if finished now. */
  get size(): number {
    return this.pos + this.tableBytes;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /**
   * Starts an event; the caller then writes the id, name and the rest in layout order and calls
   * endEvent(). `userBytes` are the user's 16 pseudonym bytes when the caller has them; otherwise a
   * user of 32 lowercase hex digits is packed here, and any other text is written as a string.
   */
  beginEvent(bits: number, user: string, time: number, userBytes?: Uint8Array): void {
    this.ensure(2 + PSEUDONYM_BYTES + 8);
    this.eventStart = this.pos;
    const bitsAt = this.pos++;
    const b = this.buf;
    if (userBytes !== undefined && userBytes.length === PSEUDONYM_BYTES) {
      for (let i = 0; i < PSEUDONYM_BYTES; i++) b[this.pos + i] = userBytes[i];
      this.pos += PSEUDONYM_BYTES;
      bits |= USER_HEX16;
    } else if (this.packHex16(user)) bits |= USER_HEX16;
    else this.str(user);
    b[bitsAt] = bits;
    this.f64(time);
  }

  private packHex16(s: string): boolean {
    if (s.length !== 2 * PSEUDONYM_BYTES) return false;
    const b = this.buf;
    const at = this.pos;
    for (let i = 0; i < PSEUDONYM_BYTES; i++) {
      const hi = hexDigit(s.charCodeAt(2 * i));
      const lo = hexDigit(s.charCodeAt(2 * i + 1));
      if (hi < 0 || lo < 0) return false;
      b[at + i] = (hi << 4) | lo;
    }
    this.pos += PSEUDONYM_BYTES;
    return true;
  }

  endEvent(): void {
    this.eventStart = -1;
    this.count++;
  }

  /** Drops the event begun last (a rejection found after it was started); names it added stay, unused. */
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

  /** A reference to `s` in the record's name table (added on first use). */
  name(s: string): void {
    const names = this.names;
    const n = names.length;
    const scanned = n < SCANNED_NAMES ? n : SCANNED_NAMES;
    for (let i = 0; i < scanned; i++) {
      if (names[i] === s) {
        this.varint(i);
        return;
      }
    }
    let i = n >= SCANNED_NAMES ? this.nameIndex.get(s) : undefined;
    if (i === undefined) {
      i = n;
      names.push(s);
      if (i >= SCANNED_NAMES) this.nameIndex.set(s, i);
      this.tableBytes += 3 + Buffer.byteLength(s, 'utf8');
    }
    this.varint(i);
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

  /** An id of lowercase hex digits as its bytes (read back as the same text); false, writing nothing, for any other id. */
  private idHexText(s: string): boolean {
    const n = s.length;
    if (n === 0 || n % 2 !== 0 || n > 256) return false;
    for (let i = 0; i < n; i++) if (hexDigit(s.charCodeAt(i)) < 0) return false;
    this.varint(n / 2);
    this.ensure(n / 2);
    const b = this.buf;
    for (let i = 0; i < n; i += 2) b[this.pos++] = (hexDigit(s.charCodeAt(i)) << 4) | hexDigit(s.charCodeAt(i + 1));
    return true;
  }

  /** Writes a whole event object (the general path: tests, tools, non-span sources). */
  writeEvent(e: FeatureEvent): void {
    const attrs = e.attrs ? Object.entries(e.attrs) : [];
    let bits = e.source === 'log' ? SOURCE_LOG : 0;
    if (e.durationMs !== undefined) bits |= HAS_DURATION;
    if (attrs.length > 0) bits |= HAS_ATTRS;
    if (e.origin !== undefined) bits |= HAS_ORIGIN;
    this.beginEvent(bits, e.user, e.time);
    if (this.idHexText(e.id)) this.buf[this.eventStart] |= ID_HEX;
    else this.str(e.id);
    this.name(e.name);
    if (e.durationMs !== undefined) this.f64(e.durationMs);
    this.varint(e.flags.length);
    for (const f of e.flags) {
      this.name(f.feature);
      this.name(f.variant);
    }
    if (attrs.length > 0) {
      this.varint(attrs.length);
      for (const [k, v] of attrs) {
        this.name(k);
        this.name(v);
      }
    }
    if (e.origin !== undefined) this.name(e.origin);
    this.endEvent();
  }

  /** The record written so far, copied out; the writer is then empty again. */
  finish(): Buffer {
    const tableOffset = this.pos;
    this.varint(this.names.length);
    for (const s of this.names) this.str(s);
    const b = this.buf;
    b[0] = 0x70;
    b[1] = 0x65;
    b[2] = EVENT_RECORD_V3;
    b.writeUInt32LE(tableOffset, 3);
    let n = this.count;
    for (let i = 0; i < COUNT_BYTES - 1; i++) {
      b[COUNT_AT + i] = (n & 127) | 128;
      n >>>= 7;
    }
    b[COUNT_AT + COUNT_BYTES - 1] = n & 127;
    const out = Buffer.allocUnsafe(this.pos);
    b.copy(out, 0, 0, this.pos);
    this.reset();
    return out;
  }

  reset(): void {
    this.pos = V3_HEADER_BYTES;
    this.count = 0;
    this.eventStart = -1;
    this.names.length = 0;
    this.nameIndex.clear();
    this.tableBytes = 1;
  }
}

/** One record holding these events, in order (tests and tools; the receiver writes field by field). */
export function encodeEventRecord(events: readonly FeatureEvent[]): Buffer {
  const w = new EventRecordWriter();
  for (const e of events) w.writeEvent(e);
  return w.finish();
}
