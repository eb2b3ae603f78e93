// A bounded map from short byte strings to values, looked up by the bytes where they lie (a slice of
// the request buffer). The pseudonymiser finds a user this way without decoding the id to a string:
// decoding a fresh string and hashing it for a Map cost several times what hashing the bytes here
// and comparing them does, and the receiver does it once per span. Open addressing over typed
// arrays keeps the keys in one slab; at the cap everything is dropped, as the pseudonymiser's own
// cache does (a hot set refills in one pass).

/** Keys longer than this are not kept (user ids are short; a long one just takes the string path). */
export const MAX_UTF8_KEY_BYTES = 64;

const EMPTY = -1;

function hashBytes(buf: Uint8Array, start: number, end: number): number {
  // FNV-1a: a multiply and a xor per byte, good enough spread for ids that differ in their digits.
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h ^ (h >>> 15);
}

export class Utf8KeyTable<V> {
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly keyStart: Int32Array;
  private readonly keyLength: Int32Array;
  private readonly keyBytes: Uint8Array;
  private readonly values: (V | undefined)[];
  private used = 0;
  private bytesUsed = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    // At most half full, so a probe ends after a slot or two.
    let size = 2;
    while (size < capacity * 2) size *= 2;
    this.slots = new Int32Array(size).fill(EMPTY);
    this.mask = size - 1;
    this.keyStart = new Int32Array(capacity);
    this.keyLength = new Int32Array(capacity);
    // Room for every entry at an average of 24 bytes; longer ids fill it sooner and clear it sooner.
    this.keyBytes = new Uint8Array(capacity * 24 + MAX_UTF8_KEY_BYTES);
    this.values = new Array<V | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.used;
  }

  /** The value stored for buf[start, end), or undefined. */
  get(buf: Uint8Array, start: number, end: number): V | undefined {
    const len = end - start;
    const slots = this.slots;
    const keyBytes = this.keyBytes;
    let i = hashBytes(buf, start, end) & this.mask;
    for (;;) {
      const e = slots[i];
      if (e === EMPTY) return undefined;
      if (this.keyLength[e] === len) {
        const at = this.keyStart[e];
        let j = 0;
        while (j < len && keyBytes[at + j] === buf[start + j]) j++;
        if (j === len) return this.values[e];
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Stores `value` for buf[start, end) (a key not already in the table); keys over MAX_UTF8_KEY_BYTES are not kept. */
  set(buf: Uint8Array, start: number, end: number, value: V): void {
    const len = end - start;
    if (len > MAX_UTF8_KEY_BYTES) return;
    if (this.used >= this.capacity || this.bytesUsed + len > this.keyBytes.length) this.clear();
    const e = this.used++;
    const at = this.bytesUsed;
    this.keyBytes.set(buf.subarray(start, end), at);
    this.bytesUsed += len;
    this.keyStart[e] = at;
    this.keyLength[e] = len;
    this.values[e] = value;
    let i = hashBytes(buf, start, end) & this.mask;
    while (this.slots[i] !== EMPTY) i = (i + 1) & this.mask;
    this.slots[i] = e;
  }

  clear(): void {
    if (this.used === 0) return;
    this.slots.fill(EMPTY);
    this.values.fill(undefined);
    this.used = 0;
    this.bytesUsed = 0;
  }
}
