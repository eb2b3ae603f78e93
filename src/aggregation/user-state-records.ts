// The state store's per-handle records as checkpoint rows (user-state-store.ts builds on this
// layer): a row holds the full record of some handles (key, feature, cohort, flags, first exposure,
// latency counts, chain link, early-activation flags, large counts, alias id), either a list of
// changed handles or a range of consecutive ones. Rows of kinds 0 / 1 (written before the early
// flags existed) restore with none set; this version writes kinds 2 / 3. Rows applied in order rebuild the arrays (a later row's record of a
// handle wins); then the chains, the free list and the user index are checked and rebuilt from
// the arrays exactly as a whole-state restore does, so a corrupt or incomplete set is refused.

import type { ByteReader, ByteWriter } from '../core/byte-codec.js';
import type { Steps } from '../core/sliced-steps.js';
import { keyToHex } from './user-key.js';
import { ALIAS, BIG, FREE, NONE, UserStateArrays } from './user-state-arrays.js';

/** Handles between two points where a restore may pause (a few ms each at 10 M pairs). */
export const HANDLES_PER_STEP = 65_536;

const LIST_V1 = 0;
const RANGE_V1 = 1;
const LIST = 2;
const RANGE = 3;

export class UserStateRecords extends UserStateArrays {
  /** One row with the records of `handles` (each < handleLimit). */
  writeList(w: ByteWriter, handles: Int32Array): void {
    const n = handles.length;
    w.byte(LIST).varint(n).array(handles);
    const keys = new Int32Array(4 * n);
    const feat = new Uint16Array(n);
    const coh = new Uint16Array(n);
    const flg = new Uint8Array(n);
    const fe = new Float64Array(n);
    const req = new Uint16Array(n);
    const slw = new Uint16Array(n);
    const nxt = new Int32Array(n);
    const xfl = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const h = handles[i];
      keys.set(this.keys.subarray(4 * h, 4 * h + 4), 4 * i);
      feat[i] = this.feat[h];
      coh[i] = this.coh[h];
      flg[i] = this.flg[h];
      fe[i] = this.fe[h];
      req[i] = this.req[h];
      slw[i] = this.slw[h];
      nxt[i] = this.nxt[h];
      xfl[i] = this.xfl[h];
    }
    w.array(keys).array(feat).array(coh).array(flg).array(fe).array(req).array(slw).array(nxt).array(xfl);
    this.writeExtras(w, n, (i) => handles[i]);
  }

  /** One row with the records of handles from..to-1. */
  writeRange(w: ByteWriter, from: number, to: number): void {
    w.byte(RANGE).varint(from).varint(to - from);
    w.array(this.keys.subarray(4 * from, 4 * to)).array(this.feat.subarray(from, to)).array(this.coh.subarray(from, to));
    w.array(this.flg.subarray(from, to)).array(this.fe.subarray(from, to)).array(this.req.subarray(from, to));
    w.array(this.slw.subarray(from, to)).array(this.nxt.subarray(from, to)).array(this.xfl.subarray(from, to));
    this.writeExtras(w, to - from, (i) => from + i);
  }

  private writeExtras(w: ByteWriter, n: number, handle: (i: number) => number): void {
    const big: number[] = [];
    const alias: number[] = [];
    for (let i = 0; i < n; i++) {
      const f = this.flg[handle(i)];
      if ((f & FREE) !== 0) continue;
      if ((f & BIG) !== 0) big.push(i);
      if ((f & ALIAS) !== 0) alias.push(i);
    }
    w.varint(big.length);
    for (const i of big) {
      const [requests, slow] = this.big.get(handle(i)) as [number, number];
      w.varint(i).varint(requests).varint(slow);
    }
    w.varint(alias.length);
    for (const i of alias) {
      const k = 4 * handle(i);
      w.varint(i).string(this.aliases.get(keyToHex(this.keys[k], this.keys[k + 1], this.keys[k + 2], this.keys[k + 3])) as string);
    }
  }

  /**
   * Applies one row to arrays already sized for `limit` handles. `covered` marks the handles a
   * row has set; `aliasIds` collects the alias ids by handle (the map is rebuilt at the end).
   */
  protected applyRow(r: ByteReader, limit: number, covered: Uint8Array, aliasIds: Map<number, string>): void {
    const kind = r.byte();
    let n: number;
    let handleAt: (i: number) => number;
    if (kind === LIST || kind === LIST_V1) {
      n = r.varint();
      const list = r.array((k) => new Int32Array(k), n, 'handles');
      handleAt = (i) => list[i];
    } else if (kind === RANGE || kind === RANGE_V1) {
      const from = r.varint();
      n = r.varint();
      handleAt = (i) => from + i;
    } else {
      throw r.fail(`unknown record row kind ${kind}`);
    }
    for (let i = 0; i < n; i++) {
      const h = handleAt(i);
      if (!(h >= 0 && h < limit)) throw r.fail(`state ${h} is outside 0..${limit - 1}`);
    }
    const keys = r.array((k) => new Int32Array(k), 4 * n, 'user keys');
    const feat = r.array((k) => new Uint16Array(k), n, 'features');
    const coh = r.array((k) => new Uint16Array(k), n, 'cohorts');
    const flg = r.array((k) => new Uint8Array(k), n, 'flags');
    const fe = r.array((k) => new Float64Array(k), n, 'first exposures');
    const req = r.array((k) => new Uint16Array(k), n, 'requests');
    const slw = r.array((k) => new Uint16Array(k), n, 'slow requests');
    const nxt = r.array((k) => new Int32Array(k), n, 'chains');
    const xfl = kind === LIST || kind === RANGE ? r.array((k) => new Uint8Array(k), n, 'early flags') : new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const h = handleAt(i);
      this.keys.set(keys.subarray(4 * i, 4 * i + 4), 4 * h);
      this.feat[h] = feat[i];
      this.coh[h] = coh[i];
      this.flg[h] = flg[i];
      this.fe[h] = fe[i];
      this.req[h] = req[i];
      this.slw[h] = slw[i];
      this.nxt[h] = nxt[i];
      this.xfl[h] = xfl[i];
      covered[h] = 1;
      this.big.delete(h);
      aliasIds.delete(h);
    }
    const bigCount = r.varint();
    for (let b = 0; b < bigCount; b++) {
      const i = r.varint();
      const requests = r.varint();
      const slow = r.varint();
      if (i >= n || (flg[i] & (BIG | FREE)) !== BIG || slow > requests) throw r.fail(`bad large counts in record ${i}`);
      this.big.set(handleAt(i), [requests, slow]);
    }
    const aliasCount = r.varint();
    for (let a = 0; a < aliasCount; a++) {
      const i = r.varint();
      if (i >= n || (flg[i] & (ALIAS | FREE)) !== ALIAS) throw r.fail(`bad alias in record ${i}`);
      aliasIds.set(handleAt(i), r.string());
    }
  }

  /** The aliases of live alias states, in handle order (any order restores the same map content). */
  protected *restoreAliases(aliasIds: Map<number, string>, fail: (detail: string) => Error): Steps<void> {
    for (let h = 0; h < this.highWater; h++) {
      if (h % HANDLES_PER_STEP === 0) yield;
      if ((this.flg[h] & (ALIAS | FREE)) !== ALIAS) continue;
      const user = aliasIds.get(h);
      if (user === undefined) throw fail(`alias state ${h} without its id`);
      const k = 4 * h;
      this.aliases.set(keyToHex(this.keys[k], this.keys[k + 1], this.keys[k + 2], this.keys[k + 3]), user);
    }
  }

  /**
   * After the arrays of handles 0..n-1 are loaded: checks every link, the free list and the
   * feature/cohort of each live state, then rebuilds the user index from the chain heads.
   */
  protected *linkAndIndex(n: number, freeHead: number, live: number, cohortCounts: readonly number[], fail: (detail: string) => Error): Steps<void> {
    this.highWater = n;
    this.freeHead = freeHead;
    // Integrity: every link in range, every handle linked at most once, free list = free handles.
    const linked = new Uint8Array(n);
    let liveSeen = 0;
    let liveLinks = 0;
    let bigSeen = 0;
    for (let h = 0; h < n; h++) {
      if (h % HANDLES_PER_STEP === 0) yield;
      const next = this.nxt[h];
      if (next < NONE || next >= n) throw fail(`bad link ${next} at state ${h}`);
      if (next !== NONE) {
        if (linked[next] !== 0 || (this.flg[next] & FREE) !== (this.flg[h] & FREE)) throw fail(`bad link ${next} at state ${h}`);
        linked[next] = 1;
      }
      if ((this.flg[h] & FREE) !== 0) continue;
      liveSeen++;
      if (next !== NONE) liveLinks++;
      if ((this.flg[h] & BIG) !== 0) bigSeen++;
      const f = this.feat[h];
      if (f >= cohortCounts.length || this.coh[h] >= cohortCounts[f]) throw fail(`state ${h} points at a missing feature/cohort`);
    }
    if (liveSeen !== live) throw fail(`expected ${live} live states, found ${liveSeen}`);
    if (bigSeen !== this.big.size) throw fail(`${bigSeen} states with large counts, ${this.big.size} counted`);
    if (freeHead < NONE || freeHead >= n || (freeHead !== NONE && ((this.flg[freeHead] & FREE) === 0 || linked[freeHead] !== 0))) {
      throw fail('bad free list head');
    }
    this.live = live;
    // Sized at once for every chain head, to the size that growing one user at a time reaches: a
    // rehash of millions of users would be one long step.
    let size = this.mask + 1;
    while (liveSeen - liveLinks > size * 0.75) size *= 2;
    if (size > this.mask + 1) this.rehash(size);
    yield;
    for (let h = 0; h < n; h++) {
      if (h % HANDLES_PER_STEP === 0) yield;
      if ((this.flg[h] & FREE) !== 0 || linked[h] !== 0) continue; // not a chain head
      const k = 4 * h;
      const alias = (this.flg[h] & ALIAS) !== 0;
      if (this.userCount + 1 > (this.mask + 1) * 0.75) this.rehash((this.mask + 1) * 2);
      const i = this.probe(this.keys[k], this.keys[k + 1], this.keys[k + 2], this.keys[k + 3], alias);
      if (this.index[i] !== NONE) throw fail(`two chains for one user at state ${h}`);
      this.index[i] = h;
      this.userCount++;
    }
  }
}
