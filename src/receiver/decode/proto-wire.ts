// Protobuf wire-format reading for the lazy OTLP scanner: bounds-checked primitives over one
// Buffer, every read limited by the end of the message being read. Where the format leaves room
// (over-long varints, truncated strings) it is stricter than protobufjs, and where protobufjs
// reads a known field in a particular way (int32/uint32/bool through a 10-byte "blind" varint,
// int64 near the end of a message) it reads the same bytes, so the two decoders agree on every
// input they both accept. Anything malformed throws WireError; the scanner turns that into
// ERR_OTLP_DECODE.

export class WireError extends Error {}

// Buffer#utf8Slice skips toString()'s encoding dispatch (protobufjs uses it too); both decode the
// same way, replacing invalid sequences with U+FFFD.
type Utf8Slice = (this: Buffer, start: number, end: number) => string;
const utf8Slice: Utf8Slice = (Buffer.prototype as unknown as { utf8Slice?: Utf8Slice }).utf8Slice
  ?? function (this: Buffer, start: number, end: number) { return this.toString('utf8', start, end); };

export function utf8(buf: Buffer, start: number, end: number): string {
  return utf8Slice.call(buf, start, end);
}

// Span names, feature keys and variants repeat across a request: short strings are looked up by
// their bytes in a small direct-mapped table before paying for a native decode.
const SLOTS = 1024;
const MAX_CACHED = 40;
const cacheBytes = new Uint8Array(SLOTS * MAX_CACHED);
const cacheLength = new Int32Array(SLOTS).fill(-1);
const cacheText: string[] = new Array<string>(SLOTS).fill('');

export function cachedUtf8(buf: Buffer, start: number, end: number): string {
  const len = end - start;
  if (len > MAX_CACHED) return utf8Slice.call(buf, start, end);
  let h = len;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 16777619);
  const slot = (h >>> 0) % SLOTS;
  const base = slot * MAX_CACHED;
  if (cacheLength[slot] === len) {
    let i = 0;
    while (i < len && cacheBytes[base + i] === buf[start + i]) i++;
    if (i === len) return cacheText[slot];
  }
  const s = utf8Slice.call(buf, start, end);
  for (let i = 0; i < len; i++) cacheBytes[base + i] = buf[start + i];
  cacheLength[slot] = len;
  cacheText[slot] = s;
  return s;
}

export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const SGROUP = 3;
export const EGROUP = 4;
export const I32 = 5;

const MAX_GROUP_DEPTH = 32;

export interface WireCounter {
  record(n?: number): void;
  attribute(n?: number): void;
}

const NO_LIMITS: WireCounter = { record() {}, attribute() {} };

export class WireReader {
  pos = 0;

  /** `counter` sees every record and attribute walked, and throws past its caps. */
  constructor(readonly buf: Buffer, readonly counter: WireCounter = NO_LIMITS) {}

  fail(what: string): never {
    throw new WireError(`${what} at offset ${this.pos}`);
  }

  /** A tag or a length: at most five bytes, as any sane encoder writes them. */
  uint32(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos < end && buf[pos] < 128) {
      this.pos = pos + 1;
      return buf[pos];
    }
    let v = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) this.fail('truncated varint');
      const b = buf[pos++];
      v |= (b & 127) << shift;
      if (b < 128) {
        this.pos = pos;
        return v >>> 0;
      }
    }
    if (pos >= end) this.fail('truncated varint');
    const b = buf[pos++];
    if (b >= 128) this.fail('varint longer than 5 bytes where a length or tag was expected');
    this.pos = pos;
    return (v | ((b & 15) << 28)) >>> 0;
  }

  /** protobufjs' uint32(): five value bytes; a sixth continuation means a 10-byte varint whose rest is skipped. */
  blindUint32(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= end) this.fail('truncated varint');
      const b = buf[pos++];
      v |= shift === 28 ? (b & 15) << 28 : (b & 127) << shift;
      if (b < 128) {
        this.pos = pos;
        return v >>> 0;
      }
    }
    if (pos + 5 > end) this.fail('truncated varint');
    this.pos = pos + 5;
    return v >>> 0;
  }

  /** protobufjs' int64(), as a signed bigint. */
  int64(end: number): bigint {
    const buf = this.buf;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    if (end - pos > 4) {
      for (let i = 0; i < 4; i++) {
        const b = buf[pos++];
        lo = (lo | ((b & 127) << (i * 7))) >>> 0;
        if (b < 128) return this.long(pos, lo, 0);
      }
      const b5 = buf[pos++];
      lo = (lo | ((b5 & 127) << 28)) >>> 0;
      hi = (b5 & 127) >> 4;
      if (b5 < 128) return this.long(pos, lo, hi);
    } else {
      for (let i = 0; i < 3; i++) {
        if (pos >= end) this.fail('truncated varint');
        const b = buf[pos++];
        lo = (lo | ((b & 127) << (i * 7))) >>> 0;
        if (b < 128) return this.long(pos, lo, 0);
      }
      // protobufjs takes a fourth byte here whatever its continuation bit says.
      if (pos >= end) this.fail('truncated varint');
      lo = (lo | ((buf[pos++] & 127) << 21)) >>> 0;
      return this.long(pos, lo, 0);
    }
    for (let i = 0; i < 5; i++) {
      if (pos >= end) this.fail('truncated varint');
      const b = buf[pos++];
      hi = (hi | ((b & 127) << (i * 7 + 3))) >>> 0;
      if (b < 128) return this.long(pos, lo, hi);
    }
    this.fail('invalid varint encoding');
  }

  private long(pos: number, lo: number, hi: number): bigint {
    this.pos = pos;
    return BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
  }

  /** A fixed64 as its two unsigned 32-bit halves (see NanoHalves): no BigInt on the hot path. */
  fixed64(end: number): { high: number; low: number } {
    const p = this.pos;
    if (p + 8 > end) this.fail('truncated fixed64');
    const b = this.buf;
    this.pos = p + 8;
    return {
      low: (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0,
      high: (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0,
    };
  }

  double(end: number): number {
    if (this.pos + 8 > end) this.fail('truncated double');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Reads a length prefix and returns the end of the delimited bytes; pos is their start. */
  delimited(end: number): number {
    const p = this.pos;
    const first = this.buf[p];
    // Kept small so V8 inlines it: one-byte lengths are the common case.
    if (first < 128 && p < end && p + 1 + first <= end) {
      this.pos = p + 1;
      return p + 1 + first;
    }
    return this.longDelimited(end);
  }

  private longDelimited(end: number): number {
    const len = this.uint32(end);
    const stop = this.pos + len;
    if (stop > end) this.fail('length past the end of the message');
    return stop;
  }

  string(end: number): string {
    const stop = this.delimited(end);
    const s = cachedUtf8(this.buf, this.pos, stop);
    this.pos = stop;
    return s;
  }

  bytes(end: number): Buffer {
    const stop = this.delimited(end);
    const b = this.buf.subarray(this.pos, stop);
    this.pos = stop;
    return b;
  }

  /**
   * A plain Uint8Array view of the bytes: making one costs a fraction of Buffer#subarray (which
   * goes through Buffer's species constructor), and ids only need to be read.
   */
  view(end: number): Uint8Array {
    const stop = this.delimited(end);
    const v = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.pos, stop - this.pos);
    this.pos = stop;
    return v;
  }

  /** Skips one field's value by its wire type (unknown fields, and known fields mapping never reads). */
  skip(wireType: number, end: number, depth = 0): void {
    switch (wireType) {
      case VARINT:
        do {
          if (this.pos >= end) this.fail('truncated varint');
        } while (this.buf[this.pos++] & 128);
        return;
      case I64:
        return this.advance(8, end);
      case LEN:
        this.pos = this.delimited(end);
        return;
      case SGROUP:
        if (depth >= MAX_GROUP_DEPTH) this.fail('groups nested too deep');
        for (;;) {
          const wt = this.uint32(end) & 7;
          if (wt === EGROUP) return;
          this.skip(wt, end, depth + 1);
        }
      case I32:
        return this.advance(4, end);
      default:
        this.fail(`invalid wire type ${wireType}`);
    }
  }

  private advance(n: number, end: number): void {
    if (this.pos + n > end) this.fail('truncated fixed-width field');
    this.pos += n;
  }
}
