// Remembers the ids (trace id + span id) of accepted events so an exporter's resend changes no
// statistic. The rule: ids are kept while their event time is above the horizon,
//   horizon = max(watermark − dedupeWindowMs, highest time evicted by the entry cap);
// an event at or below the horizon can no longer be checked, so the caller must refuse it
// (counted as tooLate). That keeps "duplicates never count" strict at bounded memory: the price
// is that data later than the horizon is rejected (counted), never double counted.

import { MinHeap } from './min-heap.js';
import type { ByteReader, ByteWriter } from './byte-codec.js';

interface Entry {
  time: number;
  id: string;
}

export class DedupeWindow {
  private readonly ids = new Map<string, number>();
  private readonly expiry = new MinHeap<Entry>((a, b) => a.time < b.time);
  private capHorizon = Number.NEGATIVE_INFINITY;
  private windowHorizon = Number.NEGATIVE_INFINITY;
  /** Entries dropped because of maxEntries (not because of time). */
  evictedByCap = 0;

  constructor(private readonly maxEntries: number) {}

  get horizon(): number {
    return this.capHorizon > this.windowHorizon ? this.capHorizon : this.windowHorizon;
  }

  get size(): number {
    return this.ids.size;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Precondition: time > horizon and !has(id). */
  add(id: string, time: number): void {
    this.ids.set(id, time);
    this.expiry.push({ time, id });
    if (this.ids.size > this.maxEntries) {
      const oldest = this.expiry.peek() as Entry;
      this.evictedByCap++;
      this.capHorizon = oldest.time;
      this.dropUpTo(this.capHorizon);
    }
  }

  /** Forgets every id at or below watermark − window. */
  advance(windowHorizon: number): void {
    if (windowHorizon <= this.windowHorizon) return;
    this.windowHorizon = windowHorizon;
    this.dropUpTo(this.horizon);
  }

  private dropUpTo(h: number): void {
    for (let top = this.expiry.peek(); top !== undefined && top.time <= h; top = this.expiry.peek()) {
      this.expiry.pop();
      this.ids.delete(top.id);
    }
  }

  approxBytes(): number {
    let idBytes = 0;
    for (const id of this.ids.keys()) idBytes += id.length;
    return this.ids.size * 96 + idBytes;
  }

  write(w: ByteWriter): void {
    w.float64(this.capHorizon).float64(this.windowHorizon).varint(this.evictedByCap).varint(this.ids.size);
    for (const [id, time] of this.ids) w.string(id).float64(time);
  }

  static read(r: ByteReader, maxEntries: number): DedupeWindow {
    const d = new DedupeWindow(maxEntries);
    d.capHorizon = r.float64();
    d.windowHorizon = r.float64();
    d.evictedByCap = r.varint();
    const n = r.varint();
    for (let i = 0; i < n; i++) {
      const id = r.string();
      const time = r.float64();
      if (!(time > d.horizon) || d.ids.has(id)) throw r.fail(`bad dedupe entry ${JSON.stringify(id)}`);
      d.ids.set(id, time);
      d.expiry.push({ time, id });
    }
    // A smaller maxEntries at restore applies at the next add, not retroactively here.
    return d;
  }
}
