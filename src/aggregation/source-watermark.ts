// The event-time watermark of one partition, held back by its slowest live source, so no single
// clock can push it: a source whose clock runs ahead, or a fresh burst of new data, cannot make
// the windows of slower sources' users close early.
//
// A source is what sent the event (FeatureEvent.origin: the service, from resource attributes;
// events without one share the source ""). Per source: the highest event time it sent, and the
// partition's highest event time when it last sent anything ("last contact").
//   leader    = highest event time of the partition;
//   active    = sources whose last contact is at most idleMs behind the leader;
//   watermark = max(previous watermark, min over active sources of their highest time − lateness).
// A source that keeps sending stays active however far behind it is (a lagging region holds the
// watermark back, as it must); one that falls silent while the leader moves idleMs on is idle and
// stops holding it (its later data is late, applied within the grace). Idleness is measured in
// event time against the partition's own data, never in processing time, so a replay of the same
// records computes the same watermark at every record.
// Beyond maxSources distinct sources, new ones are counted under the shared source "".

import type { ByteReader, ByteWriter } from '../core/byte-codec.js';
import type { SourceMark } from '../events/watermark-marker.js';

export const DEFAULT_SOURCE = '';

interface SourceState {
  max: number;
  lastContact: number;
}

export class SourceWatermark {
  private readonly sources = new Map<string, SourceState>();
  /** The same states in insertion order: observe() scans them for every event, and an indexed
   *  loop over an array is several times cheaper than a Map iterator on that path. */
  private readonly states: SourceState[] = [];
  /** The source of the previous observe() and the state it resolved to (consecutive events of a
   *  record almost always share their source). Sources are never removed, so it stays valid. */
  private lastKey: string | undefined;
  private lastState: SourceState | undefined;
  private leader = Number.NEGATIVE_INFINITY;
  private low = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly latenessMs: number,
    private readonly idleMs: number,
    private readonly maxSources: number,
  ) {}

  /** Highest event time accepted on the partition (−Infinity before the first). */
  get maxEventTime(): number {
    return this.leader;
  }

  /** The watermark (−Infinity before the first event). Never decreases. */
  get watermark(): number {
    return this.low;
  }

  get sourceCount(): number {
    return this.sources.size;
  }

  activeSources(): number {
    let n = 0;
    for (const s of this.states) if (this.leader - s.lastContact <= this.idleMs) n++;
    return n;
  }

  /** Records an accepted event of `source` at time t; returns true when the watermark moved. */
  observe(source: string | undefined, t: number): boolean {
    const given = source ?? DEFAULT_SOURCE;
    if (t > this.leader) this.leader = t;
    const s = given === this.lastKey ? this.lastState! : this.resolve(given, t);
    this.lastKey = given;
    this.lastState = s;
    if (t > s.max) s.max = t;
    s.lastContact = this.leader;
    return this.settle();
  }

  /**
   * The marks of one watermark marker (events/watermark-marker.ts), taken together: the newest
   * time moves first, then every named source is in contact at it, then the watermark is
   * computed once. A marker stands for events its receiver sent interleaved over a while, so a
   * source it names was sending all along; mark by mark, a fast source's mark would move the
   * newest time past a slower named source's last contact, that source would look idle for that
   * moment, and the watermark, which never moves back, would keep the jump. Taken together, a
   * marker holds the watermark back at least as far as the events it stands for would.
   */
  observeMarks(marks: readonly SourceMark[]): boolean {
    if (marks.length === 0) return false;
    for (const m of marks) if (m.time > this.leader) this.leader = m.time;
    for (const m of marks) {
      const s = this.resolve(m.origin, m.time);
      if (m.time > s.max) s.max = m.time;
      s.lastContact = this.leader;
    }
    return this.settle();
  }

  /** The state of source `given` (the shared source "" past maxSources), made at t if new. */
  private resolve(given: string, t: number): SourceState {
    let s = this.sources.get(given);
    if (s === undefined) {
      let key = given;
      if (this.sources.size >= this.maxSources) {
        key = DEFAULT_SOURCE;
        s = this.sources.get(key);
      }
      if (s === undefined) this.add(key, (s = { max: t, lastContact: this.leader }));
    }
    return s;
  }

  /** Moves the watermark to the slowest active source's time − lateness if that is later; true when it moved. */
  private settle(): boolean {
    const states = this.states;
    let min = Number.POSITIVE_INFINITY;
    for (let i = 0; i < states.length; i++) {
      const x = states[i];
      if (this.leader - x.lastContact <= this.idleMs && x.max < min) min = x.max;
    }
    const candidate = min - this.latenessMs;
    if (candidate > this.low) {
      this.low = candidate;
      return true;
    }
    return false;
  }

  private add(key: string, s: SourceState): void {
    const old = this.sources.get(key);
    this.sources.set(key, s);
    if (old === undefined) this.states.push(s);
    else this.states[this.states.indexOf(old)] = s;
  }

  write(w: ByteWriter): void {
    w.float64(this.leader).float64(this.low).varint(this.sources.size);
    for (const k of [...this.sources.keys()].sort()) {
      const s = this.sources.get(k)!;
      w.string(k).float64(s.max).float64(s.lastContact);
    }
  }

  static read(r: ByteReader, latenessMs: number, idleMs: number, maxSources: number): SourceWatermark {
    const m = new SourceWatermark(latenessMs, idleMs, maxSources);
    m.leader = r.float64();
    m.low = r.float64();
    const n = r.varint();
    for (let i = 0; i < n; i++) {
      const k = r.string();
      m.add(k, { max: r.float64(), lastContact: r.float64() });
    }
    return m;
  }

  /** A partition restored from a checkpoint written before sources were tracked. */
  static fromLegacy(maxEventTime: number, latenessMs: number, idleMs: number, maxSources: number): SourceWatermark {
    const m = new SourceWatermark(latenessMs, idleMs, maxSources);
    if (maxEventTime !== Number.NEGATIVE_INFINITY) {
      m.leader = maxEventTime;
      m.low = maxEventTime - latenessMs;
      m.add(DEFAULT_SOURCE, { max: maxEventTime, lastContact: maxEventTime });
    }
    return m;
  }
}
