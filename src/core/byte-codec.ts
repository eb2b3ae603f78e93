// Compact binary encoding for histograms and checkpointed aggregation state: unsigned LEB128
// varints (exact up to 2^53, so counts never need a second format), float64 and UTF-8 strings.
// The reader throws ERR_STATE_CORRUPT on anything truncated or out of range, so a damaged
// checkpoint is refused instead of silently restoring wrong statistics.

import { PmfError } from '../core/errors.js';

const TWO_POW_7 = 128;
// Typed arrays are dumped as they sit in memory; a big-endian host would read them wrongly.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function assertLittleEndian(): void {
  if (!LITTLE_ENDIAN) throw new PmfError('ERR_INTERNAL', 'aggregation state dumps need a little-endian host');
}

export class ByteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  /** Non-negative integer ≤ 2^53 − 1. */
  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new PmfError('ERR_INTERNAL', `varint out of range: ${v}`);
    }
    this.ensure(8);
    // Division instead of bit shifts: shifts truncate to 32 bits and counts may exceed that.
    while (v >= TWO_POW_7) {
      this.buf[this.pos++] = (v % TWO_POW_7) | 0x80;
      v = Math.floor(v / TWO_POW_7);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  float64(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
    return this;
  }

  string(s: string): this {
    const len = Buffer.byteLength(s, 'utf8');
    this.varint(len);
    this.ensure(len);
    this.buf.write(s, this.pos, len, 'utf8');
    this.pos += len;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** A typed array's bytes as they are in memory (little-endian on every platform we run on). */
  array(a: Int32Array | Uint32Array | Float64Array | Uint8Array | Uint16Array): this {
    assertLittleEndian();
    return this.bytes(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  /**
   * The bytes written. A buffer at least seven eighths full is handed over without a copy (a
   * writer sized for its output, such as a checkpoint row of megabytes, then allocates it once,
   * not twice); an emptier one is copied, so its slack is not kept alive. Later writes only append,
   * so they never change the bytes returned.
   */
  finish(): Buffer {
    const view = this.buf.subarray(0, this.pos);
    return this.pos >= this.buf.length - (this.buf.length >>> 3) ? view : Buffer.from(view);
  }
}

export class ByteReader {
  private pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {}

  private corrupt(detail: string): PmfError {
    return new PmfError('ERR_STATE_CORRUPT', `${this.what}: ${detail} at byte ${this.pos}`);
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  byte(): number {
    if (this.pos >= this.buf.length) throw this.corrupt('truncated');
    return this.buf[this.pos++];
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.buf.length) throw this.corrupt('truncated varint');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) break;
      scale *= TWO_POW_7;
      if (scale > 2 ** 49) throw this.corrupt('varint too long');
    }
    if (!Number.isSafeInteger(result)) throw this.corrupt('varint out of range');
    return result;
  }

  float64(): number {
    if (this.pos + 8 > this.buf.length) throw this.corrupt('truncated float64');
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 8).readDoubleLE(0);
    this.pos += 8;
    return v;
  }

  string(): string {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw this.corrupt('truncated string');
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, len).toString('utf8');
    this.pos += len;
    return s;
  }

  bytes(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw this.corrupt('truncated bytes');
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  /** Reads what ByteWriter.array wrote into a fresh array of `length` elements. */
  array<T extends Int32Array | Uint32Array | Float64Array | Uint8Array | Uint16Array>(make: (length: number) => T, length: number, what: string): T {
    assertLittleEndian();
    const bytes = this.bytes();
    const out = make(length);
    if (bytes.length !== out.byteLength) throw this.corrupt(`${what}: expected ${out.byteLength} bytes, got ${bytes.length}`);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }

  expectEnd(): void {
    if (this.pos !== this.buf.length) throw this.corrupt(`${this.buf.length - this.pos} trailing bytes`);
  }

  fail(detail: string): PmfError {
    return this.corrupt(detail);
  }
}
