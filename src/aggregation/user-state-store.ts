// Per-(user, feature) state of one partition in typed arrays: no object per user or per state.
//
// Layout: a state is a handle (an index into parallel arrays): the user key as four int32 words
// (user-key.ts), feature and cohort (uint16 each), flags (uint8), first exposure (float64, event
// time in ms), latency requests and slow requests (uint16 each; a state that passes 65,535 moves
// its two counts to a small exact side map) and the next state of the same user (int32): 37 bytes.
// A user's states form a chain in creation order; an open-addressing index (int32 per slot,
// load ≤ 0.75, linear probing, backward-shift deletion) maps the user key to the chain's head. Freed handles go on a free list, so a handle never moves while its state
// lives (the deadline queue holds handles) until compact() renumbers them after most were freed.
// With arrays growing by 1.125× once large and one index slot per user, a tracked (user,
// feature) costs about 47–55 bytes including the deadline queue (bench/RESULTS-aggregator.md).
//
// Determinism: handles are assigned by a free list whose order is part of the checkpoint, so a
// restored store hands out the same handles as the original would; the aggregator breaks
// deadline ties by handle, hence restore + replay is byte-identical to an uninterrupted run.
//
// Eviction markers (users whose windows closed, kept so they are not exposed again) are 64-bit
// fingerprints of (user key, feature) in a FIFO capped at maxRetired (fingerprint-ring.ts).

import type { ByteReader, ByteWriter } from '../core/byte-codec.js';
import { FingerprintRing } from './fingerprint-ring.js';
import { fmix32, hash64, hashKey64 } from './id-hash.js';
import { keyToHex, parseUserKey, userKey } from './user-key.js';

/** Bits of a state's flags. */
export const ACTIVATED = 1;
export const RETURNED = 2;
/** The activation window matured (counted in the denominator if the rule has an action). */
export const ACTIVATION_DONE = 4;
export const RETENTION_DONE = 8;
/** The user was seen later with another cohort (counted once). */
export const SWITCHED = 16;
/** The user key is the MD5 of a non-pseudonym id (see user-key.ts). */
const ALIAS = 32;
/** The latency counts outgrew uint16 and live in the side map. */
const BIG = 64;
const U16_MAX = 0xffff;
/** A free handle. */
const FREE = 128;

export const MAX_FEATURES = 0xffff;
export const MAX_COHORTS = 0xffff;
const NONE = -1;
const STORE_VERSION = 1;

export class UserStateStore {
  private cap = 0;
  private keys: Int32Array = new Int32Array(0);
  private feat: Uint16Array = new Uint16Array(0);
  private coh: Uint16Array = new Uint16Array(0);
  private flg: Uint8Array = new Uint8Array(0);
  private fe: Float64Array = new Float64Array(0);
  private req: Uint16Array = new Uint16Array(0);
  private slw: Uint16Array = new Uint16Array(0);
  /** [requests, slow] of states flagged BIG, by handle. */
  private big = new Map<number, [number, number]>();
  private nxt: Int32Array = new Int32Array(0);
  private highWater = 0;
  private freeHead = NONE;
  private live = 0;
  private userCount = 0;
  private index: Int32Array = new Int32Array(16).fill(NONE);
  private mask = 15;
  /** Original ids of alias users with live state, by the hex form of their key. */
  private readonly aliases = new Map<string, string>();
  private markers: FingerprintRing;
  // The selected user (select()): key words, alias flag, head of its chain.
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private sAlias = false;
  private sUser = '';
  private sHead = NONE;

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
  }

  requests(h: number): number {
    return (this.flg[h] & BIG) === 0 ? this.req[h] : (this.big.get(h) as [number, number])[0];
  }

  slow(h: number): number {
    return (this.flg[h] & BIG) === 0 ? this.slw[h] : (this.big.get(h) as [number, number])[1];
  }

  countRequest(h: number, isSlow: boolean): void {
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

  // ---- the selected user ------------------------------------------------------------------

  /** Makes `user` the subject of head / find / add / isRetired. */
  select(user: string): void {
    parseUserKey(user);
    this.s0 = userKey.k0;
    this.s1 = userKey.k1;
    this.s2 = userKey.k2;
    this.s3 = userKey.k3;
    this.sAlias = userKey.alias;
    this.sUser = user;
    const i = this.probe(this.s0, this.s1, this.s2, this.s3, this.sAlias);
    this.sHead = this.index[i];
  }

  /** First state of the selected user; -1 when none. */
  get head(): number {
    return this.sHead;
  }

  /** The selected user's state for `feature`; -1 when none. */
  find(feature: number): number {
    for (let h = this.sHead; h !== NONE; h = this.nxt[h]) if (this.feat[h] === feature) return h;
    return NONE;
  }

  /** A new state for the selected user (who must not have one for `feature`), last in its chain. */
  add(feature: number, cohort: number, firstExposure: number): number {
    const h = this.allocate();
    const k = 4 * h;
    this.keys[k] = this.s0;
    this.keys[k + 1] = this.s1;
    this.keys[k + 2] = this.s2;
    this.keys[k + 3] = this.s3;
    this.feat[h] = feature;
    this.coh[h] = cohort;
    this.flg[h] = this.sAlias ? ALIAS : 0;
    this.fe[h] = firstExposure;
    this.req[h] = 0;
    this.slw[h] = 0;
    this.nxt[h] = NONE;
    this.live++;
    if (this.sHead === NONE) {
      this.sHead = h;
      this.userCount++;
      if (this.sAlias) this.aliases.set(keyToHex(this.s0, this.s1, this.s2, this.s3), this.sUser);
      if (this.userCount > (this.mask + 1) * 0.75) this.rehash((this.mask + 1) * 2);
      this.index[this.probe(this.s0, this.s1, this.s2, this.s3, this.sAlias)] = h;
    } else {
      let t = this.sHead;
      while (this.nxt[t] !== NONE) t = this.nxt[t];
      this.nxt[t] = h;
    }
    return h;
  }

  /** Whether the selected user's state for `feature` was evicted (and its marker is still kept). */
  isRetired(feature: number): boolean {
    if (this.markers.size === 0) return false;
    hashKey64(this.s0, this.s1, this.s2, this.s3, feature);
    return this.markers.find(hash64.lo | 0, hash64.hi | 0) >= 0;
  }

  // ---- any state ----------------------------------------------------------------------------

  /**
   * Drops a live state and keeps a marker so its user is not exposed to that feature again.
   * Returns how many old markers the cap made it forget (those users would count as new).
   */
  retire(h: number): number {
    const k = 4 * h;
    const k0 = this.keys[k];
    const k1 = this.keys[k + 1];
    const k2 = this.keys[k + 2];
    const k3 = this.keys[k + 3];
    const alias = (this.flg[h] & ALIAS) !== 0;
    const i = this.probe(k0, k1, k2, k3, alias);
    const head = this.index[i];
    const next = this.nxt[h];
    if (head === h) {
      if (next === NONE) {
        this.removeSlot(i);
        this.userCount--;
        if (alias) this.aliases.delete(keyToHex(k0, k1, k2, k3));
      } else {
        this.index[i] = next;
      }
    } else {
      let p = head;
      while (this.nxt[p] !== h) p = this.nxt[p];
      this.nxt[p] = next;
    }
    if (this.sHead === h || (this.s0 === k0 && this.s1 === k1 && this.s2 === k2 && this.s3 === k3 && this.sAlias === alias)) {
      this.sHead = this.index[this.probe(this.s0, this.s1, this.s2, this.s3, this.sAlias)];
    }
    const feature = this.feat[h];
    if ((this.flg[h] & BIG) !== 0) this.big.delete(h);
    this.flg[h] = FREE;
    this.nxt[h] = this.freeHead;
    this.freeHead = h;
    this.live--;

    let forgotten = 0;
    if (this.markers.full) {
      this.markers.shift();
      forgotten = 1;
    }
    hashKey64(k0, k1, k2, k3, feature);
    this.markers.push(hash64.lo | 0, hash64.hi | 0);
    return forgotten;
  }

  /**
   * Whether compact() is due: most handles are free (after a traffic peak, or as a population
   * retires). Callers check it at deterministic points (the aggregator: after each record), so a
   * restored store compacts exactly when the original did.
   */
  get needsCompaction(): boolean {
    return this.highWater > 65_536 && this.live * 4 < this.highWater;
  }

  /**
   * Renumbers the live states 0..live-1 in handle order and shrinks the arrays and the index.
   * Every handle held outside the store is invalid afterwards (the aggregator rebuilds its
   * deadline queue).
   */
  compact(): void {
    const n = this.highWater;
    const map = new Int32Array(n).fill(NONE);
    let live = 0;
    for (let h = 0; h < n; h++) if ((this.flg[h] & FREE) === 0) map[h] = live++;
    // Targets never exceed sources, so copying in ascending order is safe in place.
    for (let h = 0; h < n; h++) {
      const t = map[h];
      if (t === NONE) continue;
      const next = this.nxt[h];
      this.nxt[t] = next === NONE ? NONE : map[next];
      if (t === h) continue;
      this.keys.copyWithin(4 * t, 4 * h, 4 * h + 4);
      this.feat[t] = this.feat[h];
      this.coh[t] = this.coh[h];
      this.flg[t] = this.flg[h];
      this.fe[t] = this.fe[h];
      this.req[t] = this.req[h];
      this.slw[t] = this.slw[h];
    }
    for (let i = 0; i < this.index.length; i++) if (this.index[i] !== NONE) this.index[i] = map[this.index[i]];
    if (this.sHead !== NONE) this.sHead = map[this.sHead];
    this.big = new Map([...this.big].map(([h, counts]) => [map[h], counts]));
    this.highWater = live;
    this.freeHead = NONE;
    this.resize(Math.max(1024, Math.ceil(live * 1.125)));
    let size = 16;
    while (size * 0.5 < this.userCount) size *= 2;
    if (size < this.index.length) this.rehash(size);
  }

  /** The user id of a live state (for diagnostics and tests). */
  userOf(h: number): string {
    const k = 4 * h;
    const hex = keyToHex(this.keys[k], this.keys[k + 1], this.keys[k + 2], this.keys[k + 3]);
    return (this.flg[h] & ALIAS) !== 0 ? (this.aliases.get(hex) as string) : hex;
  }

  /** Bytes held by the arrays, the index, the alias map (estimated) and the markers. */
  approxBytes(): number {
    const perHandle = 16 + 2 + 2 + 1 + 8 + 2 + 2 + 4;
    let aliasBytes = 0;
    for (const [hex, user] of this.aliases) aliasBytes += 80 + hex.length + user.length;
    return this.cap * perHandle + this.index.byteLength + this.big.size * 120 + aliasBytes + this.markers.approxBytes();
  }

  /** Bytes held for live states only (arrays + index), excluding markers and aliases. */
  stateBytes(): number {
    return this.cap * (16 + 2 + 2 + 1 + 8 + 2 + 2 + 4) + this.index.byteLength;
  }

  markerBytes(): number {
    return this.markers.approxBytes();
  }

  // ---- checkpoint ---------------------------------------------------------------------------

  write(w: ByteWriter): void {
    const n = this.highWater;
    w.byte(STORE_VERSION).varint(n).varint(this.freeHead + 1).varint(this.live);
    w.array(this.keys.subarray(0, 4 * n)).array(this.feat.subarray(0, n)).array(this.coh.subarray(0, n));
    w.array(this.flg.subarray(0, n)).array(this.fe.subarray(0, n)).array(this.req.subarray(0, n));
    w.array(this.slw.subarray(0, n)).array(this.nxt.subarray(0, n));
    const big = [...this.big].sort((a, b) => a[0] - b[0]);
    w.varint(big.length);
    for (const [h, [requests, slow]] of big) w.varint(h).varint(requests).varint(slow);
    w.varint(this.aliases.size);
    for (const [hex, user] of this.aliases) w.string(hex).string(user);
    const markers = new Int32Array(2 * this.markers.size);
    let m = 0;
    this.markers.forEach((lo, hi) => {
      markers[m++] = lo;
      markers[m++] = hi;
    });
    w.varint(this.markers.size).array(markers);
  }

  /**
   * Reads what write() wrote; `cohortCounts[f]` is the number of cohorts of feature f, so every
   * state can be checked to point at an existing (feature, cohort).
   */
  static read(r: ByteReader, maxRetired: number, cohortCounts: readonly number[]): { store: UserStateStore; forgotten: number } {
    const s = new UserStateStore(maxRetired);
    const version = r.byte();
    if (version !== STORE_VERSION) throw r.fail(`unknown user state version ${version}`);
    const n = r.varint();
    const freeHead = r.varint() - 1;
    const live = r.varint();
    s.resize(Math.max(n, 16));
    s.keys.set(r.array((k) => new Int32Array(k), 4 * n, 'user keys'));
    s.feat.set(r.array((k) => new Uint16Array(k), n, 'features'));
    s.coh.set(r.array((k) => new Uint16Array(k), n, 'cohorts'));
    s.flg.set(r.array((k) => new Uint8Array(k), n, 'flags'));
    s.fe.set(r.array((k) => new Float64Array(k), n, 'first exposures'));
    s.req.set(r.array((k) => new Uint16Array(k), n, 'requests'));
    s.slw.set(r.array((k) => new Uint16Array(k), n, 'slow requests'));
    s.nxt.set(r.array((k) => new Int32Array(k), n, 'chains'));
    const bigCount = r.varint();
    for (let i = 0; i < bigCount; i++) {
      const h = r.varint();
      const requests = r.varint();
      const slow = r.varint();
      if (h >= n || (s.flg[h] & (BIG | FREE)) !== BIG || slow > requests) throw r.fail(`bad large counts at state ${h}`);
      s.big.set(h, [requests, slow]);
    }
    s.highWater = n;
    s.freeHead = freeHead;
    // Integrity: every link in range, every handle linked at most once, free list = free handles.
    const linked = new Uint8Array(n);
    let liveSeen = 0;
    let bigSeen = 0;
    for (let h = 0; h < n; h++) {
      const next = s.nxt[h];
      if (next < NONE || next >= n) throw r.fail(`bad link ${next} at state ${h}`);
      if (next !== NONE) {
        if (linked[next] !== 0 || (s.flg[next] & FREE) !== (s.flg[h] & FREE)) throw r.fail(`bad link ${next} at state ${h}`);
        linked[next] = 1;
      }
      if ((s.flg[h] & FREE) !== 0) continue;
      liveSeen++;
      if ((s.flg[h] & BIG) !== 0) bigSeen++;
      const f = s.feat[h];
      if (f >= cohortCounts.length || s.coh[h] >= cohortCounts[f]) throw r.fail(`state ${h} points at a missing feature/cohort`);
    }
    if (liveSeen !== live) throw r.fail(`expected ${live} live states, found ${liveSeen}`);
    if (bigSeen !== s.big.size) throw r.fail(`${bigSeen} states with large counts, ${s.big.size} counted`);
    if (freeHead < NONE || freeHead >= n || (freeHead !== NONE && ((s.flg[freeHead] & FREE) === 0 || linked[freeHead] !== 0))) {
      throw r.fail('bad free list head');
    }
    s.live = live;
    for (let h = 0; h < n; h++) {
      if ((s.flg[h] & FREE) !== 0 || linked[h] !== 0) continue; // not a chain head
      const k = 4 * h;
      const alias = (s.flg[h] & ALIAS) !== 0;
      if (s.userCount + 1 > (s.mask + 1) * 0.75) s.rehash((s.mask + 1) * 2);
      const i = s.probe(s.keys[k], s.keys[k + 1], s.keys[k + 2], s.keys[k + 3], alias);
      if (s.index[i] !== NONE) throw r.fail(`two chains for one user at state ${h}`);
      s.index[i] = h;
      s.userCount++;
    }
    const aliasCount = r.varint();
    for (let i = 0; i < aliasCount; i++) {
      const hex = r.string();
      s.aliases.set(hex, r.string());
    }
    const markerCount = r.varint();
    const markers = r.array((k) => new Int32Array(k), 2 * markerCount, 'eviction markers');
    let forgotten = 0;
    for (let m = 0; m < markerCount; m++) {
      // A smaller cap at restore forgets the oldest, as retire would.
      if (s.markers.full) {
        s.markers.shift();
        forgotten++;
      }
      s.markers.push(markers[2 * m], markers[2 * m + 1]);
    }
    return { store: s, forgotten };
  }

  // ---- internals ----------------------------------------------------------------------------

  private allocate(): number {
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

  private resize(cap: number): void {
    const grow = <T extends Int32Array | Uint16Array | Uint8Array | Float64Array | Uint32Array>(old: T, make: (n: number) => T, width = 1): T => {
      const a = make(cap * width);
      a.set(old.subarray(0, Math.min(old.length, cap * width)));
      return a;
    };
    this.keys = grow(this.keys, (k) => new Int32Array(k), 4);
    this.feat = grow(this.feat, (k) => new Uint16Array(k));
    this.coh = grow(this.coh, (k) => new Uint16Array(k));
    this.flg = grow(this.flg, (k) => new Uint8Array(k));
    this.fe = grow(this.fe, (k) => new Float64Array(k));
    this.req = grow(this.req, (k) => new Uint16Array(k));
    this.slw = grow(this.slw, (k) => new Uint16Array(k));
    this.nxt = grow(this.nxt, (k) => new Int32Array(k));
    this.cap = cap;
  }

  /** The index slot holding this user's head, or the empty slot where it would go. */
  private probe(k0: number, k1: number, k2: number, k3: number, alias: boolean): number {
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

  private homeOf(h: number): number {
    const k = 4 * h;
    return fmix32(this.keys[k] ^ this.keys[k + 1] ^ this.keys[k + 2] ^ this.keys[k + 3]) & this.mask;
  }

  private removeSlot(i: number): void {
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

  private rehash(size: number): void {
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
