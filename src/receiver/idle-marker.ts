// Which partitions of the events topic get a watermark marker (events/watermark-marker.ts), and
// what it says. Users go to partitions by key hash, so with few users a minute a partition can get
// no event for a while, and its watermark then holds every feature's verdicts until its next
// event. A marker tells that partition's aggregator, per source, the highest event time this
// receiver has published, which is what an event of that source at that time would tell it.
//
// A partition is marked when this receiver has written nothing to it (data or marker) for idleMs
// of processing time and has published a later time since its last marker: at most one marker per
// partition per idleMs, none on a partition that gets data, and none once traffic stops and every
// partition has heard the latest times. A partition never written counts as written when marking
// started: marking it at once would name only the first source seen, so a second source arriving
// moments later would find the first one idle on every partition and jump every watermark, where
// its events would move only the partitions they reach. A mark names only the sources whose time moved since the
// partition's last marker: re-stating a silent source's old time would keep it active on the
// partition (source-watermark.ts) and hold the watermark at that time.

import type { Clock } from '../core/clock.js';
import { encodeWatermarkMarker, type SourceMark } from '../events/watermark-marker.js';
import type { LogRecord } from '../log/partitioned-log.js';

/** Sources tracked; a new one past this is left out of markers (a marker can only be less complete, never wrong). */
export const MAX_MARKED_SOURCES = 256;
/** Key of marker records (they carry an explicit partition; the key is only a label). */
export const MARKER_KEY = 'pmf.watermark';

interface Latest {
  time: number;
  /** The update counter when the time last rose. */
  seq: number;
}

export class IdleMarker {
  private readonly latest = new Map<string, Latest>();
  private seq = 0;
  /** Per partition: processing time of the last record written to it (the start, before any). */
  private lastWrite: number[] = [];
  /** Per partition: the update counter its last marker covered. */
  private told: number[] = [];

  constructor(
    private partitions: number,
    readonly idleMs: number,
    private readonly clock: Clock,
  ) {
    this.resize(partitions);
  }

  /** The topic's partition count changed (learned at start): every partition starts unmarked, quiet from now. */
  resize(partitions: number): void {
    this.partitions = partitions;
    this.lastWrite = new Array<number>(partitions).fill(this.clock.now());
    this.told = new Array<number>(partitions).fill(0);
  }

  /** The highest event time per source ("" = events without one) of events about to be sent. */
  noteTimes(times: ReadonlyMap<string, number>): void {
    let rose = false;
    for (const [origin, time] of times) {
      const l = this.latest.get(origin);
      if (l === undefined) {
        if (this.latest.size >= MAX_MARKED_SOURCES) continue;
        this.latest.set(origin, { time, seq: this.seq + 1 });
        rose = true;
      } else if (time > l.time) {
        l.time = time;
        l.seq = this.seq + 1;
        rose = true;
      }
    }
    if (rose) this.seq++;
  }

  /**
   * The markers due now, for partitions not among `written` (the partitions the same send writes
   * data to); every partition written here counts as written now.
   */
  take(written: ReadonlySet<number>): LogRecord[] {
    const now = this.clock.now();
    const out: LogRecord[] = [];
    for (let p = 0; p < this.partitions; p++) {
      if (written.has(p)) {
        this.lastWrite[p] = now;
        continue;
      }
      if (this.told[p] >= this.seq || now - this.lastWrite[p] < this.idleMs) continue;
      const marks: SourceMark[] = [];
      for (const [origin, l] of this.latest) if (l.seq > this.told[p]) marks.push({ origin, time: l.time });
      this.told[p] = this.seq;
      this.lastWrite[p] = now;
      out.push({ key: MARKER_KEY, value: encodeWatermarkMarker(marks), partition: p });
    }
    return out;
  }

  /** A send with these markers failed: their partitions are owed one again (still at most one per idleMs). */
  failed(markers: readonly LogRecord[]): void {
    for (const m of markers) if (m.partition !== undefined && m.partition < this.partitions) this.told[m.partition] = 0;
  }

  /** When the next marker falls due (processing time), or undefined when every partition has heard the latest times. */
  nextDue(): number | undefined {
    let due: number | undefined;
    for (let p = 0; p < this.partitions; p++) {
      if (this.told[p] >= this.seq) continue;
      const at = this.lastWrite[p] + this.idleMs;
      if (due === undefined || at < due) due = at;
    }
    return due;
  }
}
