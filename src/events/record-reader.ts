// The byte reader both event record versions decode with: bounds-checked little-endian fields over
// one Buffer, so a truncated or garbage record ends in ERR_EVENT_DECODE (a counted rejection at the
// caller), never in a read past the end or a RangeError from Node.

import { PmfError } from '../core/errors.js';

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
    if (this.pos + 8 > this.end) recordFail('truncated number');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
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
