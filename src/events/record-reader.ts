// The byte reader both event record versions decode with: bounds-checked little-endian fields over
// one Buffer, so a truncated or garbage record ends in ERR_EVENT_DECODE (a counted rejection at the
// caller), never in a read past the end or a RangeError from Node.

import { endianness } from 'node:os';
import { PmfError } from '../core/errors.js';

// A float64 read through these (the record's bytes copied in, one typed-array load out) instead of
// Buffer.readDoubleLE, which Node does not let the compiler inline: every call returned a fresh
// heap number, two per event (time, duration). Typed arrays use the platform's byte order, so a
// big-endian machine keeps readDoubleLE.
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
const LITTLE_ENDIAN = endianness() === 'LE';

export function recordFail(detail: string): never {
  throw new PmfError('ERR_EVENT_DECODE', `feature event record: ${detail}`);
}

export class RecordReader {
  pos = 0;
  constructor(readonly buf: Buffer, readonly end: number) {}

  u8(): number {
    if (this.pos >= this.end) recordFail('truncated field');
    return this.buf[this.pos++];
  }

  varint(): number {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) recordFail('truncated varint');
      const b = this.buf[this.pos++];
      v += (b & 127) * 2 ** shift;
      if (b < 128) return v;
    }
    return recordFail('varint too long');
  }

  f64(): number {
    const p = this.pos;
    if (p + 8 > this.end) recordFail('truncated number');
    this.pos = p + 8;
    if (!LITTLE_ENDIAN) return this.buf.readDoubleLE(p);
    const b = this.buf;
    F64_BYTES[0] = b[p];
    F64_BYTES[1] = b[p + 1];
    F64_BYTES[2] = b[p + 2];
    F64_BYTES[3] = b[p + 3];
    F64_BYTES[4] = b[p + 4];
    F64_BYTES[5] = b[p + 5];
    F64_BYTES[6] = b[p + 6];
    F64_BYTES[7] = b[p + 7];
    return F64[0];
  }

  str(): string {
    const n = this.varint();
    if (this.pos + n > this.end) recordFail('string past the end');
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** n raw bytes read back as lowercase hex text. */
  hexOf(n: number): string {
    const at = this.take(n);
    return this.buf.toString('hex', at, at + n);
  }

  /** Where n raw bytes start (they are passed over). */
  take(n: number): number {
    if (this.pos + n > this.end) recordFail('bytes past the end');
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** A varint length, then that many raw bytes as hex. */
  hex(): string {
    return this.hexOf(this.varint());
  }

  skip(n: number): void {
    if (this.pos + n > this.end) recordFail('field past the end');
    this.pos += n;
  }
}

/** attrs[key] = value, also for the key "__proto__" (a plain assignment would set the prototype instead). */
export function setAttr(attrs: Record<string, string>, key: string, value: string): void {
  if (key === '__proto__') Object.defineProperty(attrs, key, { value, enumerable: true, writable: true, configurable: true });
  else attrs[key] = value;
}
