// The user and id of every event of one decoded record, as the bytes the record holds them in.
// The aggregator keys users by their 16 pseudonym bytes and fingerprints ids; building hex text
// for both while decoding (and parsing or hashing that text again) was about a tenth of its time
// at 100 events per record. decodeEventRecordIds (event-record-codec.ts) fills one of these,
// owned and reused by its caller, beside event bodies that carry neither field; the hex text is
// made only where asked for (user(i), id(i)). Events whose user or id a record holds as text
// (version 2 records, non-hex producers) keep it as that text.
// The event bodies of a version 3 record are this view's too (body(i), setFlag): one object and one
// flags array per event index, overwritten by the next record. Allocating them anew per event (and
// a FlagExposure per flag) made the collector a tenth of the stage's time at 100 events per record.
// So a body is valid only until the next record is decoded: whoever keeps an event copies it.

import type { EventBody, FeatureEvent, FlagExposure } from './feature-event.js';

const EMPTY = Buffer.alloc(0);
/** Events carry a flag or two; a count above this is not pooled (flags()). */
const MAX_POOLED_FLAGS = 16;

export class RecordIds {
  /** The record the byte offsets point into. */
  buf: Buffer = EMPTY;
  count = 0;
  /** Where event i's 16 user bytes start in buf, or -1 when its user is text (userText(i)). */
  userAt = new Int32Array(128);
  /** Where event i's id bytes start in buf, or -1 when its id is text (idText(i)). */
  idAt = new Int32Array(128);
  idLen = new Int32Array(128);
  private readonly userTexts: string[] = [];
  private readonly idTexts: string[] = [];
  private readonly bodies: EventBody[] = [];
  /** flagLists[i][n]: body i's flags array when it has n flags (flags()). */
  private readonly flagLists: FlagExposure[][][] = [];

  /** Starts over for the record `buf`. */
  reset(buf: Buffer): void {
    this.buf = buf;
    this.count = 0;
  }

  setUserBytes(i: number, at: number): void {
    this.room(i);
    this.userAt[i] = at;
  }

  setUserText(i: number, user: string): void {
    this.room(i);
    this.userAt[i] = -1;
    this.userTexts[i] = user;
  }

  /** Sets event i's id (after its user) and counts the event. */
  setIdBytes(i: number, at: number, length: number): void {
    this.idAt[i] = at;
    this.idLen[i] = length;
    this.count = i + 1;
  }

  setIdText(i: number, id: string): void {
    this.idAt[i] = -1;
    this.idTexts[i] = id;
    this.count = i + 1;
  }

  userText(i: number): string {
    return this.userTexts[i];
  }

  idText(i: number): string {
    return this.idTexts[i];
  }

  /** Event i's user as FeatureEvent.user has it (32 lower-case hex digits for raw bytes). */
  user(i: number): string {
    const at = this.userAt[i];
    return at < 0 ? this.userTexts[i] : this.buf.toString('hex', at, at + 16);
  }

  /** Event i's id as FeatureEvent.id has it. */
  id(i: number): string {
    const at = this.idAt[i];
    return at < 0 ? this.idTexts[i] : this.buf.toString('hex', at, at + this.idLen[i]);
  }

  /**
   * Event i's reused body, every optional field present (undefined when absent) so that every
   * body shares one shape; its flags array is flags()'s.
   */
  body(i: number): EventBody {
    let b = this.bodies[i];
    if (b === undefined) {
      b = { time: 0, name: '', durationMs: undefined, flags: [], source: 'span', attrs: undefined, origin: undefined };
      this.bodies[i] = b;
      this.flagLists[i] = [];
    }
    return b;
  }

  /**
   * Body i's flags, `n` reused exposures for the caller to fill: one array per (event index,
   * flag count), so a record never reallocates them (shortening an array and growing it again,
   * as the next event with a flag did, gave its backing store back and took a new one).
   * Past MAX_POOLED_FLAGS a fresh array: a record's count is not trusted before its bytes are read.
   */
  flags(i: number, n: number): FlagExposure[] {
    let list: FlagExposure[];
    if (n > MAX_POOLED_FLAGS) {
      list = [];
      for (let k = 0; k < n; k++) list.push({ feature: '', variant: '' });
    } else {
      const lists = this.flagLists[i];
      list = lists[n];
      if (list === undefined) {
        list = [];
        for (let k = 0; k < n; k++) list.push({ feature: '', variant: '' });
        lists[n] = list;
      }
    }
    this.bodies[i].flags = list;
    return list;
  }

  /** Event i as decodeEventRecord gives it. */
  event(body: EventBody, i: number): FeatureEvent {
    return { user: this.user(i), id: this.id(i), ...body };
  }

  private room(i: number): void {
    if (i < this.userAt.length) return;
    const grow = (a: Int32Array) => {
      const b = new Int32Array(a.length * 2);
      b.set(a);
      return b;
    };
    this.userAt = grow(this.userAt);
    this.idAt = grow(this.idAt);
    this.idLen = grow(this.idLen);
  }
}
