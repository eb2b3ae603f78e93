// The binary record of the cohort-stats topic (format 2, docs/contract.md "Cohort statistics"):
// the step snapshots of ONE feature from ONE source partition, several in a record. The first is
// full (every cohort, every count, the serialized histograms); each later one holds only what
// changed since the one before it in the same record: the counts that moved (as differences) and
// the latencies recorded since (as values, which the reader records into its copy of the
// histogram). A record therefore never depends on another record: a restarted or rebalanced
// aggregator, a zombie, a consumer that starts anywhere and the embedded log's compaction all see
// self-contained snapshots, and every step a record names stays recoverable, in order.
// Format 1 (one JSON FeaturePartial per record) is still read: decodeCohortStats takes both.
// Decoded snapshots equal what the aggregator held at each step, field for field (the histograms'
// base64 included), so the verdict engine judges the same inputs whatever the framing.

import { ByteReader, ByteWriter } from '../core/byte-codec.js';
import { PmfError, errorMessage } from '../core/errors.js';
import type { CohortPartial, EarlyCounts } from './cohort-stats.js';
import { decodeFeaturePartial } from './codec.js';
import type { FeaturePartial, SnapshotPosition } from './feature-partial.js';
import { LatencyHistogram } from './latency-histogram.js';

/** First byte of a format-2 record (a JSON record starts with "{"), then the format number. */
const MARKER = 0x00;
const FORMAT = 2;
const FULL = 0;
const DELTA = 1;

/**
 * The counts of a cohort, in record order: exposed; activation matured, successes; retention
 * matured, successes; latency count, slow, users, sumN2, sumSlow2, sumNSlow; cohortSwitches;
 * early activation afterMs, reached, successes (afterMs 0: no early counts), maturedSuccesses + 1
 * (0: not known, none published).
 */
export const COUNTS = 16;
const FIRST_EXPOSURE_BIT = 2 ** COUNTS;
const VALUES_BIT = 2 ** (COUNTS + 1);
const HISTOGRAM_BIT = 2 ** (COUNTS + 2);

/** One cohort as the aggregator hands it to a step snapshot. */
export interface CohortCapture {
  cohort: string;
  firstExposureAt: number;
  /** COUNTS numbers, in record order. */
  counts: number[];
  /** Values recorded into the histogram since the cohort's previous capture (null: too many kept). */
  recent: number[] | null;
  histogram: LatencyHistogram;
}

interface Previous {
  firstExposureAt: number;
  counts: number[];
}

/** Writes one record: the step snapshots of one feature from one source partition, in order. */
export class StepSnapshotWriter {
  private readonly w = new ByteWriter(512);
  private entries = 0;
  private previous = new Map<string, Previous>();

  constructor(
    readonly feature: string,
    readonly partition: number,
  ) {}

  /** Adds the snapshot at `step` (cohorts sorted by name): full if it is the record's first, else a delta. */
  add(step: number, position: SnapshotPosition, watermark: number, cohorts: readonly CohortCapture[]): void {
    const w = this.w;
    const full = this.entries === 0;
    w.byte(full ? FULL : DELTA).float64(step).string(position.offset).varint(position.recordEvents ?? 0).float64(watermark).varint(cohorts.length);
    const next = new Map<string, Previous>();
    if (full) {
      for (const c of cohorts) {
        w.string(c.cohort).float64(c.firstExposureAt);
        for (let i = 0; i < COUNTS; i++) w.varint(c.counts[i]);
        w.bytes(c.histogram.serialize());
        next.set(c.cohort, c);
      }
    } else {
      const changed: [CohortCapture, number][] = [];
      for (const c of cohorts) {
        const mask = changeMask(c, this.previous.get(c.cohort));
        if (mask !== 0) changed.push([c, mask]);
        next.set(c.cohort, c);
      }
      w.varint(changed.length);
      for (const [c, mask] of changed) this.writeChange(c, mask, this.previous.get(c.cohort));
    }
    this.previous = next;
    this.entries++;
  }

  private writeChange(c: CohortCapture, mask: number, before: Previous | undefined): void {
    const w = this.w;
    w.string(c.cohort).varint(mask);
    if (mask & FIRST_EXPOSURE_BIT) w.float64(c.firstExposureAt);
    for (let i = 0, bit = 1; i < COUNTS; i++, bit *= 2) if (mask & bit) w.varint(zigzag(c.counts[i] - (before?.counts[i] ?? 0)));
    if (mask & HISTOGRAM_BIT) w.bytes(c.histogram.serialize());
    else if (mask & VALUES_BIT) {
      const values = sortedValues(c.recent as number[]);
      w.varint(values.length);
      let last = 0;
      for (let i = 0; i < values.length; i++) {
        w.varint(values[i] - last);
        last = values[i];
      }
    }
  }

  /** Bytes of the snapshots written so far (the head adds a few more). */
  get bytes(): number {
    return this.w.length;
  }

  finish(): Buffer {
    const head = new ByteWriter(32).byte(MARKER).byte(FORMAT).string(this.feature).varint(this.partition).varint(this.entries).finish();
    return Buffer.concat([head, this.w.finish()]);
  }
}

/** Reused by sortedValues: one per process, the writer being synchronous. */
let sortScratch = new Float64Array(256);

/**
 * The recent values ascending, in a view valid until the next call. A typed array's own numeric
 * sort: an Array's sort with a comparator copied the values into fresh work arrays at every step
 * snapshot, a fifth of what the stage allocated at 100 events per record. (The values are the
 * histogram's rounded integers: no NaN or −0, so the order is the comparator's.)
 */
function sortedValues(recent: readonly number[]): Float64Array {
  const n = recent.length;
  if (sortScratch.length < n) sortScratch = new Float64Array(Math.max(n, 2 * sortScratch.length));
  for (let i = 0; i < n; i++) sortScratch[i] = recent[i];
  return sortScratch.subarray(0, n).sort();
}

/** Which fields of a cohort changed since `before` (a cohort new to the record carries its whole histogram). */
function changeMask(c: CohortCapture, before: Previous | undefined): number {
  let mask = 0;
  for (let i = 0, bit = 1; i < COUNTS; i++, bit *= 2) if (c.counts[i] !== (before?.counts[i] ?? 0)) mask += bit;
  if (before === undefined || !Object.is(c.firstExposureAt, before.firstExposureAt)) mask += FIRST_EXPOSURE_BIT;
  if (before === undefined || c.recent === null) mask += HISTOGRAM_BIT;
  else if (c.recent.length > 0) mask += VALUES_BIT;
  return mask;
}

function zigzag(d: number): number {
  const z = d >= 0 ? d * 2 : -d * 2 - 1;
  if (!Number.isSafeInteger(z)) throw new PmfError('ERR_INTERNAL', `cohort count difference out of range: ${d}`);
  return z;
}

function unzigzag(z: number): number {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

/** A cohort as the reader rebuilds it from entry to entry. */
interface CohortState {
  cohort: string;
  firstExposureAt: number;
  counts: number[];
  /** The serialized histogram: as read in full, or taken from `histogram` once a delta recorded into it. */
  bytes?: Uint8Array;
  histogram?: LatencyHistogram;
  base64?: string;
}

/** Decoded snapshots keep their histogram's bytes; a copy, so they do not hold the whole fetched batch. */
function copyOf(view: Uint8Array): Uint8Array {
  return new Uint8Array(view);
}

function histogramOf(s: CohortState): LatencyHistogram {
  if (!s.histogram) s.histogram = LatencyHistogram.deserialize(s.bytes as Uint8Array);
  return s.histogram;
}

function bytesOf(s: CohortState): Uint8Array {
  if (s.bytes === undefined) s.bytes = (s.histogram as LatencyHistogram).serialize();
  return s.bytes;
}

function base64Of(s: CohortState): string {
  if (s.base64 === undefined) {
    const b = bytesOf(s);
    s.base64 = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
  }
  return s.base64;
}

/**
 * The serialized histogram of a decoded cohort snapshot, the bytes its base64 `histogram` was made
 * from, so the verdict stage merges them without decoding the text again; undefined for a snapshot
 * that did not come from decodeCohortStats' format 2 (its base64 is then the one source).
 */
const decodedHistograms = new WeakMap<CohortPartial, Uint8Array>();

export function serializedHistogram(c: CohortPartial): Uint8Array | undefined {
  return decodedHistograms.get(c);
}

/** Every step snapshot of a cohort-stats record, in order: format 2, or format 1 (one JSON snapshot). */
export function decodeCohortStats(value: Buffer): FeaturePartial[] {
  if (value.length === 0 || value[0] !== MARKER) return [decodeFeaturePartial(value)];
  try {
    return decodeBinary(new ByteReader(value, 'cohort-stats record'));
  } catch (err) {
    if (err instanceof PmfError && err.code === 'ERR_EVENT_DECODE') throw err;
    throw new PmfError('ERR_EVENT_DECODE', `cohort-stats record: ${errorMessage(err)}`, { cause: err });
  }
}

/** The source partition a cohort-stats record is about (either format); undefined when unreadable. */
export function cohortStatsPartition(value: Buffer): number | undefined {
  try {
    if (value.length > 0 && value[0] === MARKER) {
      const r = new ByteReader(value, 'cohort-stats record');
      r.byte();
      if (r.byte() !== FORMAT) return undefined;
      r.string();
      return r.varint();
    }
    const partition = (JSON.parse(value.toString('utf8')) as { partition?: unknown }).partition;
    return Number.isInteger(partition) ? (partition as number) : undefined;
  } catch {
    return undefined;
  }
}

function fail(detail: string): PmfError {
  return new PmfError('ERR_EVENT_DECODE', `cohort-stats record: ${detail}`);
}

function decodeBinary(r: ByteReader): FeaturePartial[] {
  r.byte();
  const format = r.byte();
  if (format !== FORMAT) throw fail(`unknown format ${format}`);
  const feature = r.string();
  const partition = r.varint();
  const entries = r.varint();
  const out: FeaturePartial[] = [];
  let cohorts = new Map<string, CohortState>();
  for (let e = 0; e < entries; e++) {
    const kind = r.byte();
    if (kind !== (e === 0 ? FULL : DELTA)) throw fail(`entry ${e} is of kind ${kind}`);
    const step = r.float64();
    const offset = r.string();
    const recordEvents = r.varint();
    const watermark = r.float64();
    const total = r.varint();
    if (!/^(0|[1-9][0-9]*)$/.test(offset)) throw fail(`bad offset ${JSON.stringify(offset)}`);
    if (kind === FULL) {
      cohorts = new Map();
      for (let i = 0; i < total; i++) {
        const s: CohortState = { cohort: r.string(), firstExposureAt: r.float64(), counts: readCounts(r) };
        s.bytes = copyOf(r.bytes());
        cohorts.set(s.cohort, s);
      }
    } else {
      cohorts = new Map(cohorts);
      const changed = r.varint();
      for (let i = 0; i < changed; i++) readChange(r, cohorts);
    }
    if (cohorts.size !== total) throw fail(`entry ${e} rebuilds ${cohorts.size} cohorts, not ${total}`);
    const position: SnapshotPosition = recordEvents === 0 ? { offset } : { offset, recordEvents };
    out.push(toFeaturePartial(feature, partition, position, watermark, step, cohorts));
  }
  r.expectEnd();
  return out;
}

function readCounts(r: ByteReader): number[] {
  const counts = new Array<number>(COUNTS);
  for (let i = 0; i < COUNTS; i++) counts[i] = r.varint();
  return counts;
}

/** Applies one changed cohort of a delta entry; the state it replaces stays with the entry before. */
function readChange(r: ByteReader, cohorts: Map<string, CohortState>): void {
  const name = r.string();
  const mask = r.varint();
  const before = cohorts.get(name);
  if (!before && !(mask & HISTOGRAM_BIT)) throw fail(`cohort ${JSON.stringify(name)} is new but has no histogram`);
  const s: CohortState = {
    cohort: name,
    firstExposureAt: mask & FIRST_EXPOSURE_BIT ? r.float64() : (before as CohortState).firstExposureAt,
    counts: before ? before.counts.slice() : new Array<number>(COUNTS).fill(0),
  };
  for (let i = 0, bit = 1; i < COUNTS; i++, bit *= 2) {
    if (!(mask & bit)) continue;
    const v = s.counts[i] + unzigzag(r.varint());
    if (!Number.isSafeInteger(v) || v < 0) throw fail(`count ${i} of cohort ${JSON.stringify(name)} becomes ${v}`);
    s.counts[i] = v;
  }
  if (mask & HISTOGRAM_BIT) s.bytes = copyOf(r.bytes());
  else if (mask & VALUES_BIT) {
    // Recorded in place: the snapshots already decoded hold their histogram as bytes of its own
    // (serialize copies) and base64 text, and only the newest state is ever a base.
    const h = histogramOf(before as CohortState);
    const n = r.varint();
    let v = 0;
    for (let k = 0; k < n; k++) {
      v += r.varint();
      h.record(v);
    }
    s.histogram = h;
  } else {
    s.bytes = (before as CohortState).bytes;
    s.histogram = (before as CohortState).histogram;
    s.base64 = (before as CohortState).base64;
  }
  cohorts.set(name, s);
}

function toFeaturePartial(feature: string, partition: number, position: SnapshotPosition, watermark: number, step: number, cohorts: Map<string, CohortState>): FeaturePartial {
  const names = [...cohorts.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const p: FeaturePartial = { feature, partition, offset: position.offset, watermark, cohorts: names.map((n) => toCohortPartial(feature, partition, position, watermark, cohorts.get(n) as CohortState)) };
  if (position.recordEvents !== undefined) p.recordEvents = position.recordEvents;
  p.step = step;
  return p;
}

function toCohortPartial(feature: string, partition: number, position: SnapshotPosition, watermark: number, s: CohortState): CohortPartial {
  const n = s.counts;
  const c: CohortPartial = {
    feature,
    cohort: s.cohort,
    partition,
    offset: position.offset,
    watermark,
    firstExposureAt: s.firstExposureAt,
    exposed: n[0],
    activation: n[12] > 0 ? { matured: n[1], successes: n[2], early: earlyOf(n) } : { matured: n[1], successes: n[2] },
    retention: { matured: n[3], successes: n[4] },
    latency: { count: n[5], slow: n[6], users: n[7], sumN2: n[8], sumSlow2: n[9], sumNSlow: n[10], histogram: base64Of(s) },
    cohortSwitches: n[11],
  };
  if (position.recordEvents !== undefined) c.recordEvents = position.recordEvents;
  decodedHistograms.set(c, bytesOf(s));
  return c;
}

function earlyOf(n: number[]): EarlyCounts {
  return n[15] > 0 ? { afterMs: n[12], reached: n[13], successes: n[14], maturedSuccesses: n[15] - 1 } : { afterMs: n[12], reached: n[13], successes: n[14] };
}
