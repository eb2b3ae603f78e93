// A bounded map from short byte strings to values, looked up by the bytes where they lie (a slice of
// the request buffer). The pseudonymiser finds a user this way without decoding the id to a string:
// decoding a fresh string per span and hashing it for a Map costs more than hashing the bytes here.
// Memory stays compact and proportional to the entries in use, because under load a look-up's cost
// is its cache misses: an open-addressing index of (hash, entry) pairs, grown as entries are added,
// and one 64-byte record per entry (its key's length and bytes) appended in insertion order. At the
// cap everything is dropped, as the pseudonymiser's own cache does (a hot set refills in one pass).

const RECORD_BYTES = 64;
/** Record layout: key length in the first byte, then the key bytes. */
const KEY_AT = 1;

/** Keys longer than this are not kept (user ids are short; a long one just takes the string path). */
export const MAX_UTF8_KEY_BYTES = RECORD_BYTES - KEY_AT;

const MIN_SLOTS = 1024;

function hashBytes(buf: Uint8Array, start: number, end: number): number {
  // FNV-1a: a multiply and a xor per byte, good enough spread for ids that differ in their digits.
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h ^ (h >>> 15);
}

export class Utf8KeyTable<V> {
  /** Slot i: index[2i] = the key's hash, index[2i + 1] = its entry + 1 (0 = empty). */
  private index = new Int32Array(2 * MIN_SLOTS);
  private mask = MIN_SLOTS - 1;
  private records = new Uint8Array(RECORD_BYTES * 256);
  private readonly values: (V | undefined)[] = [];
  private used = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.used;
  }

  /** The value stored for buf[start, end), or undefined. */
  get(buf: Uint8Array, start: number, end: number): V | undefined {
    const len = end - start;
    if (len > MAX_UTF8_KEY_BYTES) return undefined;
    const h = hashBytes(buf, start, end);
    const index = this.index;
    const records = this.records;
    let slot = h & this.mask;
    for (;;) {
      const entry = index[2 * slot + 1] - 1;
      if (entry < 0) return undefined;
      if (index[2 * slot] === h) {
        const at = entry * RECORD_BYTES;
        if (records[at] === len) {
          let j = 0;
          while (j < len && records[at + KEY_AT + j] === buf[start + j]) j++;
          if (j === len) return this.values[entry];
        }
      }
      slot = (slot + 1) & this.mask;
    }
  }

  /** Stores `value` for buf[start, end) (a key not already in the table); keys over MAX_UTF8_KEY_BYTES are not kept. */
  set(buf: Uint8Array, start: number, end: number, value: V): void {
    const len = end - start;
    if (len > MAX_UTF8_KEY_BYTES) return;
    if (this.used >= this.capacity) this.clear();
    const entry = this.used++;
    if ((entry + 1) * RECORD_BYTES > this.records.length) {
      const grown = new Uint8Array(this.records.length * 2);
      grown.set(this.records);
      this.records = grown;
    }
    const at = entry * RECORD_BYTES;
    this.records[at] = len;
    this.records.set(buf.subarray(start, end), at + KEY_AT);
    this.values[entry] = value;
    // At most half full, so a probe ends after a slot or two.
    if (2 * this.used > this.mask + 1) this.grow();
    else this.place(hashBytes(buf, start, end), entry);
  }

  clear(): void {
    if (this.used === 0) return;
    this.index = new Int32Array(2 * MIN_SLOTS);
    this.mask = MIN_SLOTS - 1;
    this.values.length = 0;
    this.used = 0;
  }

  private place(h: number, entry: number): void {
    const index = this.index;
    let slot = h & this.mask;
    while (index[2 * slot + 1] !== 0) slot = (slot + 1) & this.mask;
    index[2 * slot] = h;
    index[2 * slot + 1] = entry + 1;
  }

  /** Doubles the index and places every entry again (from its record). */
  private grow(): void {
    const slots = (this.mask + 1) * 2;
    this.index = new Int32Array(2 * slots);
    this.mask = slots - 1;
    const records = this.records;
    for (let e = 0; e < this.used; e++) {
      const at = e * RECORD_BYTES;
      this.place(hashBytes(records, at + KEY_AT, at + KEY_AT + records[at]), e);
    }
  }
}
