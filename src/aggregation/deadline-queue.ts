// The next window deadline of every live state, as a 4-ary min-heap of state handles in an
// Int32Array, with a coarse copy of each entry's key beside it in a Uint32Array (8 bytes per
// state). A state's key is computed from the store; a sift compares keys at every level, and
// computing them there (four store look-ups each) was most of the aggregator's maturation cost.
// Four children per node: half the levels of a binary heap, and a node's four coarse keys share
// a cache line, so re-sifting the top after each maturation (a few per state) misses the cache
// about half as often.
// The coarse key (the deadline in units of COARSE_MS, clamped to 32 bits) is a monotone map of the
// key, so two different coarse keys order two entries exactly; only equal ones compute the keys.
// It stays exact because a queued state's key changes only when it is the top (matureDue sets its
// flags, then topChanged re-sifts it) or when the windows change (setRules re-queues every state).
// The key: its earliest window end
// not yet matured, firstExposure + the feature's early activation landmark (while the state still
// waits for it), activation or retention window; once both windows have
// matured, the time it may be evicted: the later window end + the late grace (late data for a
// matured window is still applied until then). Ties are broken
// by handle, a strict total order, so the pop order never depends on the heap's layout (which
// differs after a restore) and a restored aggregator evicts in the same order as the original.

import { ACTIVATION_DONE, EARLY_EXCLUDED, EARLY_REACHED, RETENTION_DONE, type UserStateStore } from './user-state-store.js';

/** Coarse key unit: deadlines (ms since 1970) fit 32 bits until 2109. */
const COARSE_MS = 1024;
const COARSE_MAX = 0xffff_ffff;

/** dueBy's bits. */
export const DUE_EARLY = 1;
export const DUE_ACTIVATION = 2;
export const DUE_RETENTION = 4;
export const DUE_RETIRE = 8;

function coarse(d: number): number {
  const c = Math.floor(d / COARSE_MS);
  return c <= 0 ? 0 : c >= COARSE_MAX ? COARSE_MAX : c;
}

export class DeadlineQueue {
  private heap = new Int32Array(1024);
  /** keys[i] = coarse(due(heap[i])), as of the entry's last push or sift. */
  private keys = new Uint32Array(1024);
  private n = 0;
  /** Window lengths by feature index; +Infinity for features without a rule (frozen). */
  private activationMs: Float64Array = new Float64Array(0);
  private retentionMs: Float64Array = new Float64Array(0);
  /** Early activation landmarks by feature index; +Infinity for none. */
  private earlyMs: Float64Array = new Float64Array(0);

  constructor(
    private readonly store: UserStateStore,
    private readonly graceMs: number,
  ) {}

  get size(): number {
    return this.n;
  }

  get approxBytes(): number {
    return this.heap.byteLength + this.keys.byteLength;
  }

  setWindows(activationMs: Float64Array, retentionMs: Float64Array, earlyMs: Float64Array): void {
    this.activationMs = activationMs;
    this.retentionMs = retentionMs;
    this.earlyMs = earlyMs;
  }

  /**
   * The earliest deadline of h not yet passed: its early landmark (firstExposure + earlyMs, while
   * it neither reached it nor is excluded), activation or retention window end (firstExposure +
   * window) not yet matured; else retireAt, the later window end + the grace; +Infinity when
   * frozen. Written out in one function (no helper calls): each returned a fresh heap number.
   */
  due(h: number): number {
    const store = this.store;
    const flags = store.flags(h);
    const fe = store.firstExposure(h);
    const f = store.feature(h);
    const aEnd = fe + this.activationMs[f];
    const rEnd = fe + this.retentionMs[f];
    const a = (flags & ACTIVATION_DONE) !== 0 ? Number.POSITIVE_INFINITY : aEnd;
    const r = (flags & RETENTION_DONE) !== 0 ? Number.POSITIVE_INFINITY : rEnd;
    if (a === Number.POSITIVE_INFINITY && r === Number.POSITIVE_INFINITY) return (aEnd > rEnd ? aEnd : rEnd) + this.graceMs;
    const e = (store.earlyFlags(h) & (EARLY_REACHED | EARLY_EXCLUDED)) !== 0 ? Number.POSITIVE_INFINITY : fe + this.earlyMs[f];
    const m = a < r ? a : r;
    return e < m ? e : m;
  }

  /**
   * Which of h's deadlines (see due) are at or below `watermark`, as DUE_* bits, whether or not
   * h's flags say they have passed already, except the early landmark (not due once reached or
   * excluded). One call for maturation's four questions, and no heap numbers.
   */
  dueBy(h: number, watermark: number): number {
    const store = this.store;
    const fe = store.firstExposure(h);
    const f = store.feature(h);
    const aEnd = fe + this.activationMs[f];
    const rEnd = fe + this.retentionMs[f];
    let bits = 0;
    if ((store.earlyFlags(h) & (EARLY_REACHED | EARLY_EXCLUDED)) === 0 && fe + this.earlyMs[f] <= watermark) bits |= DUE_EARLY;
    if (aEnd <= watermark) bits |= DUE_ACTIVATION;
    if (rEnd <= watermark) bits |= DUE_RETENTION;
    if ((aEnd > rEnd ? aEnd : rEnd) + this.graceMs <= watermark) bits |= DUE_RETIRE;
    return bits;
  }

  /** Adds h unless it has nothing left to mature (a frozen feature). */
  push(h: number): void {
    const d = this.due(h);
    if (d === Number.POSITIVE_INFINITY) return;
    if (this.n === this.heap.length) {
      // Doubling while small, then 1.25× (as the state store): bounds the slack to a quarter.
      const len = this.heap.length;
      const size = len < 65_536 ? len * 2 : Math.ceil(len * 1.25);
      const next = new Int32Array(size);
      next.set(this.heap);
      this.heap = next;
      const keys = new Uint32Array(size);
      keys.set(this.keys);
      this.keys = keys;
    }
    const heap = this.heap;
    const keys = this.keys;
    const k = coarse(d);
    let i = this.n++;
    while (i > 0) {
      const parent = (i - 1) >> 2;
      const p = heap[parent];
      const pk = keys[parent];
      if (pk < k || (pk === k && this.before(p, h, d))) break;
      heap[i] = p;
      keys[i] = pk;
      i = parent;
    }
    heap[i] = h;
    keys[i] = k;
  }

  /** Whether a (queued) orders before b, whose key is bd: exact keys, ties by handle. */
  private before(a: number, b: number, bd: number): boolean {
    const ad = this.due(a);
    return ad < bd || (ad === bd && a < b);
  }

  /**
   * True when no queued deadline is at or below `watermark`, read from the top's coarse key alone
   * (coarse is monotone, so a larger coarse key means a later deadline). matureDue asks this for
   * every event, and almost always nothing is due: it spares computing the top's deadline.
   */
  nothingDueBy(watermark: number): boolean {
    return this.n === 0 || this.keys[0] > coarse(watermark);
  }

  /** The state with the earliest deadline; -1 when empty. */
  peek(): number {
    return this.n === 0 ? -1 : this.heap[0];
  }

  /** Removes the top. */
  pop(): void {
    if (this.n === 0) return;
    const last = this.heap[--this.n];
    if (this.n > 0) this.siftDown(last);
  }

  /** The top's key grew (a window matured, the other is still open): restore the order. */
  topChanged(): void {
    if (this.n > 0) this.siftDown(this.heap[0]);
  }

  /** Empties the queue and gives back a large array (after the store compacted). */
  clear(): void {
    this.n = 0;
    if (this.heap.length > 65_536) {
      this.heap = new Int32Array(1024);
      this.keys = new Uint32Array(1024);
    }
  }

  /** Places h from the root down. */
  private siftDown(h: number): void {
    const heap = this.heap;
    const keys = this.keys;
    const n = this.n;
    const d = this.due(h);
    const k = coarse(d);
    let i = 0;
    for (;;) {
      const first = 4 * i + 1;
      if (first >= n) break;
      // The least of the (up to four) children: coarse keys first, exact keys only on a tie.
      let c = first;
      let ck = keys[first];
      const end = first + 4 < n ? first + 4 : n;
      for (let j = first + 1; j < end; j++) {
        const jk = keys[j];
        if (jk < ck || (jk === ck && this.before(heap[j], heap[c], this.due(heap[c])))) {
          c = j;
          ck = jk;
        }
      }
      const ch = heap[c];
      if (k < ck || (k === ck && !this.before(ch, h, d))) break;
      heap[i] = ch;
      keys[i] = ck;
      i = c;
    }
    heap[i] = h;
    keys[i] = k;
  }
}
