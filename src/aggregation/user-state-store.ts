// Per-(user, feature) state of one partition in typed arrays: no object per user or per state.
//
// Layout: a state is a handle (an index into parallel arrays): the user key as four int32 words
// (user-key.ts), feature and cohort (uint16 each), flags (uint8), first exposure (float64, event
// time in ms), latency requests and slow requests (uint16 each; a state that passes 65,535 moves
// its two counts to a small exact side map), early-activation flags (uint8) and the next state of
// the same user (int32): 38 bytes.
// A user's states form a chain in creation order; an open-addressing index (int32 per slot,
// load ≤ 0.75, linear probing, backward-shift deletion) maps the user key to the chain's head. Freed handles go on a free list, so a handle never moves while its state
// lives (the deadline queue holds handles) until compact() renumbers them after most were freed.
// With arrays growing by 1.125× once large and one index slot per user, a tracked (user,
// feature) costs about 48–56 bytes including the deadline queue (bench/RESULTS-aggregator.md).
//
// Determinism: handles are assigned by a free list whose order is part of the checkpoint, so a
// restored store hands out the same handles as the original would; the aggregator breaks
// deadline ties by handle, hence restore + replay is byte-identical to an uninterrupted run.
//
// Eviction markers (users whose windows closed, kept so they are not exposed again) are 64-bit
// fingerprints of (user key, feature) in a FIFO capped at maxRetired (fingerprint-ring.ts).


import type { ByteReader, ByteWriter } from '../core/byte-codec.js';
import { runSteps, type Steps } from '../core/sliced-steps.js';
import { hash64, hashKey64 } from './id-hash.js';
import { keyToHex, parseUserKey, userKey } from './user-key.js';
import { ALIAS, BIG, FREE, HANDLE_BYTES, NONE } from './user-state-arrays.js';
import type { FingerprintRing } from './fingerprint-ring.js';
import { UserStateRecords } from './user-state-records.js';

export { ACTIVATED, ACTIVATION_DONE, EARLY_EXCLUDED, EARLY_HIT, EARLY_REACHED, MAX_COHORTS, MAX_FEATURES, RETENTION_DONE, RETURNED, SWITCHED } from './user-state-arrays.js';

/** 2 added the early-activation flags (a version 1 state restores with none set). */
const STORE_VERSION = 2;

export class UserStateStore extends UserStateRecords {
  // ---- the selected user ------------------------------------------------------------------

  /** Makes `user` the subject of head / find / add / isRetired. */
  select(user: string): void {
    parseUserKey(user);
    this.selectKey(userKey.k0, userKey.k1, userKey.k2, userKey.k3, userKey.alias);
    this.sUser = user;
  }

  /** select() of a pseudonym given as its four words (alias false), or of a parsed key. */
  selectKey(k0: number, k1: number, k2: number, k3: number, alias = false): void {
    this.s0 = k0;
    this.s1 = k1;
    this.s2 = k2;
    this.s3 = k3;
    this.sAlias = alias;
    this.sHead = this.index[this.probe(k0, k1, k2, k3, alias)];
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
    this.xfl[h] = 0;
    this.fe[h] = firstExposure;
    this.req[h] = 0;
    this.slw[h] = 0;
    this.nxt[h] = NONE;
    this.touch(h);
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
      this.touch(t);
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
      this.touch(p);
    }
    if (this.sHead === h || (this.s0 === k0 && this.s1 === k1 && this.s2 === k2 && this.s3 === k3 && this.sAlias === alias)) {
      this.sHead = this.index[this.probe(this.s0, this.s1, this.s2, this.s3, this.sAlias)];
    }
    const feature = this.feat[h];
    if ((this.flg[h] & BIG) !== 0) this.big.delete(h);
    this.flg[h] = FREE;
    this.nxt[h] = this.freeHead;
    this.touch(h);
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
    this.allChanged = true; // every handle may have moved
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
      this.xfl[t] = this.xfl[h];
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
    const perHandle = HANDLE_BYTES;
    let aliasBytes = 0;
    for (const [hex, user] of this.aliases) aliasBytes += 80 + hex.length + user.length;
    return this.cap * perHandle + this.index.byteLength + this.big.size * 120 + aliasBytes + this.markers.approxBytes();
  }

  /** Bytes held for live states only (arrays + index), excluding markers and aliases. */
  stateBytes(): number {
    return this.cap * HANDLE_BYTES + this.index.byteLength;
  }

  markerBytes(): number {
    return this.markers.approxBytes();
  }

  // ---- checkpoint ---------------------------------------------------------------------------

  /** The eviction markers, for the incremental checkpoint's FIFO rows. */
  get markerRing(): FingerprintRing {
    return this.markers;
  }

  /** What an incremental checkpoint keeps in its head: handles in use, free list head, live count. */
  get scalars(): { n: number; freeHead: number; live: number } {
    return { n: this.highWater, freeHead: this.freeHead, live: this.live };
  }

  /**
   * Rebuilds a store from record rows (user-state-records.ts) applied in order, which must cover
   * every handle below `n`, and the markers (pushed oldest first by `loadMarkers`).
   */
  static *fromRecords(
    scalars: { n: number; freeHead: number; live: number },
    rows: Iterable<ByteReader>,
    maxRetired: number,
    cohortCounts: readonly number[],
    loadMarkers: (ring: FingerprintRing) => Steps<number>,
    fail: (detail: string) => Error,
  ): Steps<{ store: UserStateStore; forgotten: number }> {
    const s = new UserStateStore(maxRetired);
    const { n, freeHead, live } = scalars;
    s.resize(Math.max(n, 16));
    const covered = new Uint8Array(n);
    const aliasIds = new Map<number, string>();
    for (const r of rows) {
      yield; // a row is at most a chunk (65,536 records)
      s.applyRow(r, n, covered, aliasIds);
      r.expectEnd();
    }
    yield;
    const missing = covered.indexOf(0);
    if (missing !== -1) throw fail(`no record of state ${missing}`);
    yield* s.linkAndIndex(n, freeHead, live, cohortCounts, fail);
    yield* s.restoreAliases(aliasIds, fail);
    const forgotten = yield* loadMarkers(s.markers);
    s.takeChanged();
    return { store: s, forgotten };
  }

  write(w: ByteWriter): void {
    const n = this.highWater;
    w.byte(STORE_VERSION).varint(n).varint(this.freeHead + 1).varint(this.live);
    w.array(this.keys.subarray(0, 4 * n)).array(this.feat.subarray(0, n)).array(this.coh.subarray(0, n));
    w.array(this.flg.subarray(0, n)).array(this.fe.subarray(0, n)).array(this.req.subarray(0, n));
    w.array(this.slw.subarray(0, n)).array(this.nxt.subarray(0, n)).array(this.xfl.subarray(0, n));
    const big = [...this.big].sort((a, b) => a[0] - b[0]);
    w.varint(big.length);
    for (const [h, [requests, slow]] of big) w.varint(h).varint(requests).varint(slow);
    // Sorted: an incremental restore rebuilds the map in another order than it was filled.
    const aliases = [...this.aliases].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    w.varint(aliases.length);
    for (const [hex, user] of aliases) w.string(hex).string(user);
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
    if (version !== STORE_VERSION && version !== 1) throw r.fail(`unknown user state version ${version}`);
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
    if (version >= 2) s.xfl.set(r.array((k) => new Uint8Array(k), n, 'early flags'));
    const bigCount = r.varint();
    for (let i = 0; i < bigCount; i++) {
      const h = r.varint();
      const requests = r.varint();
      const slow = r.varint();
      if (h >= n || (s.flg[h] & (BIG | FREE)) !== BIG || slow > requests) throw r.fail(`bad large counts at state ${h}`);
      s.big.set(h, [requests, slow]);
    }
    runSteps(s.linkAndIndex(n, freeHead, live, cohortCounts, (d) => r.fail(d)));
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
}
