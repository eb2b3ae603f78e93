// A FIFO of 64-bit fingerprints (optionally with a time each) in typed arrays, with an
// open-addressing index (linear probing, backward-shift deletion, no tombstones) from fingerprint
// to ring slot. The dedupe window and the eviction markers are both "remember these, forget the
// oldest first": 8 bytes per entry (16 with a time) plus 4 bytes per index slot, instead of a Map
// entry and a string per id.

export class FingerprintRing {
  private lo: Int32Array;
  private hi: Int32Array;
  private times: Float64Array;
  private cap: number;
  private head = 0;
  private count = 0;
  /** Entries ever pushed: entry k (0-based, oldest first) has sequence number endSeq − size + k. */
  private pushed = 0;
  private index: Int32Array;
  private mask: number;

  /**
   * @param maxCapacity most entries ever held (the caller shifts before pushing beyond it)
   * @param maxLoad index slots per entry at most 1/maxLoad: lower = faster misses, more memory
   */
  constructor(
    private readonly withTime: boolean,
    private readonly maxCapacity: number,
    private readonly maxLoad: number,
    initialCapacity = 1024,
  ) {
    this.cap = Math.max(1, Math.min(initialCapacity, maxCapacity));
    this.lo = new Int32Array(this.cap);
    this.hi = new Int32Array(this.cap);
    this.times = new Float64Array(withTime ? this.cap : 0);
    this.index = new Int32Array(indexSize(this.cap, maxLoad)).fill(-1);
    this.mask = this.index.length - 1;
  }

  get size(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.maxCapacity;
  }

  /** The ring slot holding this fingerprint (the newest, if pushed twice), or -1. */
  find(lo: number, hi: number): number {
    const index = this.index;
    const mask = this.mask;
    for (let i = lo & mask; ; i = (i + 1) & mask) {
      const s = index[i];
      if (s < 0) return -1;
      if (this.lo[s] === lo && this.hi[s] === hi) return s;
    }
  }

  timeAt(slot: number): number {
    return this.times[slot];
  }

  /** Time of the oldest entry; undefined when empty. */
  oldestTime(): number | undefined {
    return this.count === 0 ? undefined : this.times[this.head];
  }

  /**
   * Drops the oldest entries while their time is at or below `horizon` (a ring with times). One
   * loop over the typed arrays: asking oldestTime() per entry returned a fresh heap number each.
   */
  shiftUpTo(horizon: number): void {
    while (this.count > 0 && this.times[this.head] <= horizon) this.shift();
  }

  /** Precondition: !full. */
  push(lo: number, hi: number, time = 0): void {
    if (this.count === this.cap) this.grow();
    let slot = this.head + this.count;
    if (slot >= this.cap) slot -= this.cap;
    this.lo[slot] = lo;
    this.hi[slot] = hi;
    if (this.withTime) this.times[slot] = time;
    this.count++;
    this.pushed++;
    this.indexInsert(slot);
  }

  /** Drops the oldest entry. */
  shift(): void {
    if (this.count === 0) return;
    const slot = this.head;
    this.indexRemove(slot);
    this.head = slot + 1 === this.cap ? 0 : slot + 1;
    this.count--;
  }

  /** Oldest first. */
  forEach(fn: (lo: number, hi: number, time: number) => void): void {
    for (let k = 0, slot = this.head; k < this.count; k++, slot = slot + 1 === this.cap ? 0 : slot + 1) {
      fn(this.lo[slot], this.hi[slot], this.withTime ? this.times[slot] : 0);
    }
  }

  /** Sequence number of the next push (entries keep theirs for their life: incremental checkpoints). */
  get endSeq(): number {
    return this.pushed;
  }

  get startSeq(): number {
    return this.pushed - this.count;
  }

  /** Sets endSeq after a restore pushed the entries (which counted from 0). */
  renumber(endSeq: number): void {
    this.pushed = endSeq;
  }

  /** The entries with sequence numbers from `seq` (≥ startSeq) on, oldest first. */
  forEachFrom(seq: number, fn: (lo: number, hi: number, time: number) => void): void {
    let slot = this.head + (seq - this.startSeq);
    if (slot >= this.cap) slot -= this.cap;
    for (let k = seq; k < this.pushed; k++, slot = slot + 1 === this.cap ? 0 : slot + 1) {
      fn(this.lo[slot], this.hi[slot], this.withTime ? this.times[slot] : 0);
    }
  }

  /** Bytes held by the arrays. */
  approxBytes(): number {
    return this.lo.byteLength + this.hi.byteLength + this.times.byteLength + this.index.byteLength;
  }

  private indexInsert(slot: number): void {
    const lo = this.lo[slot];
    const hi = this.hi[slot];
    const index = this.index;
    const mask = this.mask;
    for (let i = lo & mask; ; i = (i + 1) & mask) {
      const s = index[i];
      if (s < 0 || (this.lo[s] === lo && this.hi[s] === hi)) {
        // An equal fingerprint (a re-added id whose old entry is waiting to expire): the index
        // follows the newest; the old ring entry is skipped by indexRemove when it expires.
        index[i] = slot;
        return;
      }
    }
  }

  private indexRemove(slot: number): void {
    const index = this.index;
    const mask = this.mask;
    let i = this.lo[slot] & mask;
    for (; ; i = (i + 1) & mask) {
      const s = index[i];
      if (s < 0) return; // superseded by a newer equal fingerprint
      if (s === slot) break;
    }
    // Backward-shift: pull later entries of the probe run into the hole when their home allows.
    let hole = i;
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const s = index[j];
      if (s < 0) break;
      const home = this.lo[s] & mask;
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!stays) {
        index[hole] = s;
        hole = j;
      }
    }
    index[hole] = -1;
  }

  private grow(): void {
    const nextCap = Math.min(this.maxCapacity, Math.max(this.cap * 2, 16));
    const lo = new Int32Array(nextCap);
    const hi = new Int32Array(nextCap);
    const times = new Float64Array(this.withTime ? nextCap : 0);
    for (let k = 0, slot = this.head; k < this.count; k++, slot = slot + 1 === this.cap ? 0 : slot + 1) {
      lo[k] = this.lo[slot];
      hi[k] = this.hi[slot];
      if (this.withTime) times[k] = this.times[slot];
    }
    this.lo = lo;
    this.hi = hi;
    this.times = times;
    this.cap = nextCap;
    this.head = 0;
    this.index = new Int32Array(indexSize(nextCap, this.maxLoad)).fill(-1);
    this.mask = this.index.length - 1;
    for (let k = 0; k < this.count; k++) this.indexInsert(k);
  }
}

function indexSize(entries: number, maxLoad: number): number {
  let n = 16;
  while (n * maxLoad < entries) n *= 2;
  return n;
}
