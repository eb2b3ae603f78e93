// The storage of the per-(user, feature) state store (user-state-store.ts builds on it): the
// parallel typed arrays of the handles, their allocation (free list, growth), the open-addressing
// user index (probe, backward-shift deletion, rehash) and the per-handle accessors. The flag bits
// and limits of a state are defined here. Which user is selected, retirement, compaction and the
// checkpoint codec live in user-state-store.ts.

import { FingerprintRing } from './fingerprint-ring.js';
import { fmix32 } from './id-hash.js';

/** Bits of a state's flags. */
export const ACTIVATED = 1;
export const RETURNED = 2;
/** The activation window matured (counted in the denominator if the rule has an action). */
export const ACTIVATION_DONE = 4;
export const RETENTION_DONE = 8;
/** The user was seen later with another cohort (counted once). */
export const SWITCHED = 16;
/** The user key is the MD5 of a non-pseudonym id (see user-key.ts). */
export const ALIAS = 32;
/** The latency counts outgrew uint16 and live in the side map. */
export const BIG = 64;
const U16_MAX = 0xffff;
/** A free handle. */
export const FREE = 128;

/**
 * Bits of a state's early-activation flags (a second byte: the first is full). EARLY_HIT: an
 * action applied with firstExposure <= t <= firstExposure + the rule's landmark; EARLY_REACHED:
 * the landmark matured and the user entered the early counts; EARLY_EXCLUDED: the user is never
 * counted at the landmark (the rule's landmark changed, or it came from a checkpoint without
 * early flags, while the user's state was live, so what happened before the landmark is unknown).
 */
export const EARLY_HIT = 1;
export const EARLY_REACHED = 2;
export const EARLY_EXCLUDED = 4;

/** Bytes per handle in the arrays (key 16, feature 2, cohort 2, flags 1, early flags 1, first exposure 8, latency 2 + 2, chain 4). */
export const HANDLE_BYTES = 38;

export const MAX_FEATURES = 0xffff;
export const MAX_COHORTS = 0xffff;
export const NONE = -1;

export class UserStateArrays {
  protected cap = 0;
  protected keys: Int32Array = new Int32Array(0);
  protected feat: Uint16Array = new Uint16Array(0);
  protected coh: Uint16Array = new Uint16Array(0);
  protected flg: Uint8Array = new Uint8Array(0);
  protected xfl: Uint8Array = new Uint8Array(0);
  protected fe: Float64Array = new Float64Array(0);
  protected req: Uint16Array = new Uint16Array(0);
  protected slw: Uint16Array = new Uint16Array(0);
  /** [requests, slow] of states flagged BIG, by handle. */
  protected big = new Map<number, [number, number]>();
  protected nxt: Int32Array = new Int32Array(0);
  // Handles written since the last checkpoint took them: a bit per handle plus their list.
  private changedBits = new Uint32Array(0);
  private changed = new Int32Array(1024);
  private changedCount = 0;
  protected allChanged = false;
  protected highWater = 0;
  protected freeHead = NONE;
  protected live = 0;
  protected userCount = 0;
  protected index: Int32Array = new Int32Array(16).fill(NONE);
  protected mask = 15;
  /** Original ids of alias users with live state, by the hex form of their key. */
  protected readonly aliases = new Map<string, string>();
  protected markers: FingerprintRing;
  // The selected user (select()): key words, alias flag, head of its chain.
  protected s0 = 0;
  protected s1 = 0;
  protected s2 = 0;
  protected s3 = 0;
  protected sAlias = false;
  protected sUser = '';
  protected sHead = NONE;

  constructor(private readonly maxRetired: number) {
    this.markers = new FingerprintRing(false, maxRetired, 0.75);
  }

  get liveCount(): number {
    return this.live;
  }

  get retiredCount(): number {
    return this.markers.size;
  }

  get users(): number {
    return this.userCount;
  }

  /** Handles are in [0, handleLimit). */
  get handleLimit(): number {
    return this.highWater;
  }

  isLive(h: number): boolean {
    return (this.flg[h] & FREE) === 0;
  }

  feature(h: number): number {
    return this.feat[h];
  }

  cohort(h: number): number {
    return this.coh[h];
  }

  firstExposure(h: number): number {
    return this.fe[h];
  }

  flags(h: number): number {
    return this.flg[h];
  }

  setFlag(h: number, bit: number): void {
    this.flg[h] |= bit;
    this.touch(h);
  }

  earlyFlags(h: number): number {
    return this.xfl[h];
  }

  setEarlyFlag(h: number, bit: number): void {
    this.xfl[h] |= bit;
    this.touch(h);
  }

  requests(h: number): number {
    return (this.flg[h] & BIG) === 0 ? this.req[h] : (this.big.get(h) as [number, number])[0];
  }

  slow(h: number): number {
    return (this.flg[h] & BIG) === 0 ? this.slw[h] : (this.big.get(h) as [number, number])[1];
  }

  countRequest(h: number, isSlow: boolean): void {
    this.touch(h);
    if ((this.flg[h] & BIG) === 0) {
      if (this.req[h] < U16_MAX && (!isSlow || this.slw[h] < U16_MAX)) {
        this.req[h]++;
        if (isSlow) this.slw[h]++;
        return;
      }
      this.big.set(h, [this.req[h], this.slw[h]]);
      this.flg[h] |= BIG;
    }
    const counts = this.big.get(h) as [number, number];
    counts[0]++;
    if (isSlow) counts[1]++;
  }

  /** Next state of the same user, in creation order; -1 at the end. */
  next(h: number): number {
    return this.nxt[h];
  }

  // ---- change tracking (incremental checkpoints) ----------------------------------------------

  /**
   * Handles written since the last takeChanged(), or null when every handle must be treated as
   * changed (after compact() renumbered them, or when so many changed that a list costs more
   * than it saves). Clears the record.
   */
  takeChanged(): Int32Array | null {
    const all = this.allChanged;
    const list = all ? null : this.changed.slice(0, this.changedCount).sort();
    for (let i = 0; i < this.changedCount; i++) this.changedBits[this.changed[i] >>> 5] = 0;
    if (all) this.changedBits.fill(0);
    this.changedCount = 0;
    this.allChanged = false;
    return list;
  }

  /** Marks every handle changed (the caller lost track of what the store holds). */
  markAllChanged(): void {
    this.allChanged = true;
  }

  protected touch(h: number): void {
    if (this.allChanged) return;
    const w = h >>> 5;
    const bit = 1 << (h & 31);
    if ((this.changedBits[w] & bit) !== 0) return;
    if (this.changedCount === this.changed.length) {
      // Past an eighth of the handles, rewriting everything is about as cheap as the list.
      if (this.changedCount * 8 > this.highWater && this.changedCount >= 4096) {
        this.allChanged = true;
        return;
      }
      const grown = new Int32Array(this.changed.length * 2);
      grown.set(this.changed);
      this.changed = grown;
    }
    this.changedBits[w] |= bit;
    this.changed[this.changedCount++] = h;
  }

  // ---- internals ----------------------------------------------------------------------------

  protected allocate(): number {
    if (this.freeHead !== NONE) {
      const h = this.freeHead;
      this.freeHead = this.nxt[h];
      return h;
    }
    if (this.highWater === this.cap) {
      // Doubling while small, then 1.125×: bounds the slack of a large store to an eighth (each
      // growth is one copy of the arrays, cheap next to the records that filled them).
      const next = this.cap < 65_536 ? Math.max(1024, this.cap * 2) : Math.ceil(this.cap * 1.125);
      this.resize(next);
    }
    return this.highWater++;
  }

  protected resize(cap: number): void {
    const grow = <T extends Int32Array | Uint16Array | Uint8Array | Float64Array | Uint32Array>(old: T, make: (n: number) => T, width = 1): T => {
      const a = make(cap * width);
      a.set(old.subarray(0, Math.min(old.length, cap * width)));
      return a;
    };
    this.keys = grow(this.keys, (k) => new Int32Array(k), 4);
    this.feat = grow(this.feat, (k) => new Uint16Array(k));
    this.coh = grow(this.coh, (k) => new Uint16Array(k));
    this.flg = grow(this.flg, (k) => new Uint8Array(k));
    this.xfl = grow(this.xfl, (k) => new Uint8Array(k));
    this.fe = grow(this.fe, (k) => new Float64Array(k));
    this.req = grow(this.req, (k) => new Uint16Array(k));
    this.slw = grow(this.slw, (k) => new Uint16Array(k));
    this.nxt = grow(this.nxt, (k) => new Int32Array(k));
    const bits = new Uint32Array(Math.ceil(cap / 32));
    bits.set(this.changedBits.subarray(0, Math.min(this.changedBits.length, bits.length)));
    this.changedBits = bits;
    this.cap = cap;
  }

  /** The index slot holding this user's head, or the empty slot where it would go. */
  protected probe(k0: number, k1: number, k2: number, k3: number, alias: boolean): number {
    const index = this.index;
    const keys = this.keys;
    const mask = this.mask;
    const aliasBit = alias ? ALIAS : 0;
    for (let i = fmix32(k0 ^ k1 ^ k2 ^ k3) & mask; ; i = (i + 1) & mask) {
      const h = index[i];
      if (h === NONE) return i;
      const k = 4 * h;
      if (keys[k] === k0 && keys[k + 1] === k1 && keys[k + 2] === k2 && keys[k + 3] === k3 && (this.flg[h] & ALIAS) === aliasBit) return i;
    }
  }

  protected homeOf(h: number): number {
    const k = 4 * h;
    return fmix32(this.keys[k] ^ this.keys[k + 1] ^ this.keys[k + 2] ^ this.keys[k + 3]) & this.mask;
  }

  protected removeSlot(i: number): void {
    const index = this.index;
    const mask = this.mask;
    let hole = i;
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const h = index[j];
      if (h === NONE) break;
      const home = this.homeOf(h);
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!stays) {
        index[hole] = h;
        hole = j;
      }
    }
    index[hole] = NONE;
  }

  protected rehash(size: number): void {
    const old = this.index;
    this.index = new Int32Array(size).fill(NONE);
    this.mask = size - 1;
    for (let i = 0; i < old.length; i++) {
      const h = old[i];
      if (h === NONE) continue;
      let j = this.homeOf(h);
      while (this.index[j] !== NONE) j = (j + 1) & this.mask;
      this.index[j] = h;
    }
  }
}
