// Remembers the ids (trace id + span id) of accepted events so an exporter's resend changes no
// statistic, whatever its event time. The aggregator adds the ids of events that reached a live
// (user, feature) state (only those can change a statistic if applied twice) and moves the
// horizon to its lateness horizon (watermark − longest rule window − grace): an id is remembered
// while its event time is above the horizon, which is exactly while a resend of it could still be
// accepted. Memory therefore scales with the events of tracked users over the horizon.
//   horizon = max(lateness horizon, highest time evicted by the entry cap);
// past the cap the oldest arrivals are forgotten and counted (evictedByCap): a resend of one of
// them is no longer caught (the price of bounded memory; size maxEntries to the load).
//
// Compact form: a 64-bit fingerprint of the id and its event time per entry, in arrival order
// (16 bytes + index, see fingerprint-ring.ts). Entries leave from the oldest arrival while it is at
// or below the horizon; an out-of-order entry below the horizon may wait behind a newer one, but a
// lookup only matches an entry whose time is still above the horizon, so the rule holds exactly.
// A fingerprint collision (odds in id-hash.ts) makes a new event look like a duplicate: it is
// dropped and counted in `duplicates`, never double counted.

import type { ByteReader, ByteWriter } from '../core/byte-codec.js';
import { FingerprintRing } from './fingerprint-ring.js';
import { hash64, hashString64 } from './id-hash.js';

export class DedupeWindow {
  private readonly ring: FingerprintRing;
  private capHorizon = Number.NEGATIVE_INFINITY;
  private windowHorizon = Number.NEGATIVE_INFINITY;
  private lastLo = 0;
  private lastHi = 0;
  /** Entries dropped because of maxEntries (not because of time). */
  evictedByCap = 0;

  constructor(private readonly maxEntries: number) {
    this.ring = new FingerprintRing(true, maxEntries, 0.5);
  }

  get horizon(): number {
    return this.capHorizon > this.windowHorizon ? this.capHorizon : this.windowHorizon;
  }

  get size(): number {
    return this.ring.size;
  }

  /** True when `id` was accepted with a time above the horizon. Remembers id for add(). */
  has(id: string): boolean {
    hashString64(id);
    return this.hasHashed();
  }

  /** has() for the id whose fingerprint is in hash64 (id-hash.ts: from its text or its bytes). */
  hasHashed(): boolean {
    this.lastLo = hash64.lo | 0;
    this.lastHi = hash64.hi | 0;
    const slot = this.ring.find(this.lastLo, this.lastHi);
    return slot >= 0 && this.ring.timeAt(slot) > this.horizon;
  }

  /** Remembers the id of the last has() call. Precondition: time > horizon and has(id) was false. */
  add(time: number): void {
    if (this.ring.full) {
      const oldest = this.ring.oldestTime() as number;
      this.evictedByCap++;
      if (oldest > this.capHorizon) this.capHorizon = oldest;
      this.ring.shift();
      this.dropUpTo(this.horizon);
    }
    this.ring.push(this.lastLo, this.lastHi, time);
  }

  /** Forgets every id at or below the lateness horizon (once it is the oldest arrival). */
  advance(windowHorizon: number): void {
    if (windowHorizon <= this.windowHorizon) return;
    this.windowHorizon = windowHorizon;
    this.dropUpTo(this.horizon);
  }

  private dropUpTo(h: number): void {
    this.ring.shiftUpTo(h);
  }

  approxBytes(): number {
    return this.ring.approxBytes();
  }

  /** The FIFO of fingerprints (for the incremental checkpoint's rows: aggregator-checkpoint.ts). */
  get entries(): FingerprintRing {
    return this.ring;
  }

  write(w: ByteWriter): void {
    this.writeScalars(w);
    w.varint(this.ring.size);
    const entries = new Int32Array(this.ring.size * 2);
    const times = new Float64Array(this.ring.size);
    let k = 0;
    this.ring.forEach((lo, hi, time) => {
      entries[2 * k] = lo;
      entries[2 * k + 1] = hi;
      times[k++] = time;
    });
    w.array(entries).array(times);
  }

  /** Everything but the entries. */
  writeScalars(w: ByteWriter): void {
    w.float64(this.capHorizon).float64(this.windowHorizon).varint(this.evictedByCap);
  }

  static read(r: ByteReader, maxEntries: number): DedupeWindow {
    const d = DedupeWindow.readScalars(r, maxEntries);
    const n = r.varint();
    const entries = r.array((k) => new Int32Array(k), 2 * n, 'dedupe entries');
    const times = r.array((k) => new Float64Array(k), n, 'dedupe times');
    for (let k = 0; k < n; k++) d.restoreEntry(entries[2 * k], entries[2 * k + 1], times[k]);
    return d;
  }

  /** A window without entries (restoreEntry adds them, oldest first). */
  static readScalars(r: ByteReader, maxEntries: number): DedupeWindow {
    const d = new DedupeWindow(maxEntries);
    d.capHorizon = r.float64();
    d.windowHorizon = r.float64();
    d.evictedByCap = r.varint();
    return d;
  }

  restoreEntry(lo: number, hi: number, time: number): void {
    // A smaller maxEntries at restore drops the oldest arrivals (raising the horizon), as add would.
    if (this.ring.full) {
      const oldest = this.ring.oldestTime() as number;
      if (oldest > this.capHorizon) this.capHorizon = oldest;
      this.evictedByCap++;
      this.ring.shift();
    }
    this.ring.push(lo, hi, time);
  }
}
