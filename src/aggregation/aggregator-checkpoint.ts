// Incremental checkpoints of a partition aggregator: a save writes what changed since the last
// one, so its bytes follow the update rate, not the state size (docs/aggregation.md,
// "Checkpoints"). A checkpoint is
//  - a head, replaced at every save: offset, watermark clock, counters, the dedupe window's and
//    the store's scalars, the feature slots (cohort statistics and histograms: per cohort, not per
//    user) and the sequence numbers of the two FIFOs;
//  - part 0 and 1, the dedupe ids and the eviction markers: append-only FIFOs. A save appends one
//    row with the entries pushed since the last save (seq = the sequence number after its last
//    entry) and drops the rows whose entries have all left the FIFO;
//  - parts 2…, the per-(user, feature) records, in chunks of CHUNK_STATES handles: a base row
//    with the whole chunk, then rows with the records of the handles that changed (seq = the
//    checkpoint's offset). A chunk is compacted (a new base, its older rows dropped) once its
//    change rows outweigh its base; a credit of change bytes paces compaction, so the bytes of
//    bases written follow the bytes of changes instead of arriving all at once.
// Restore = head + each chunk's rows applied in order + the FIFO rows still live. Everything the
// save writes is taken synchronously; settle() tells whether it landed: a lost change row is
// repaired by writing its chunks' bases next time, and FIFO entries not yet stored are resent.

import { ByteReader, ByteWriter } from '../core/byte-codec.js';
import { runSteps, runStepsSliced, type Steps } from '../core/sliced-steps.js';
import type { PartChanges, StatePart } from '../core/state-parts.js';
import { resolveOptions, type PartitionAggregatorOptions } from './aggregator-options.js';
import { readHeader, writeHeader } from './aggregator-state.js';
import { DedupeWindow } from './dedupe-window.js';
import { readSlots, writeSlots, type FeatureSlot } from './feature-slot.js';
import type { FingerprintRing } from './fingerprint-ring.js';
import { PartitionAggregator } from './partition-aggregator.js';
import { HANDLE_BYTES } from './user-state-arrays.js';
import { HANDLES_PER_STEP } from './user-state-records.js';
import { UserStateStore } from './user-state-store.js';

export const PART_DEDUPE = 0;
export const PART_MARKERS = 1;
export const PART_FIRST_CHUNK = 2;
/** Handles per chunk: a base row is about 2.4 MB, far below PostgreSQL's 1 GB bytea limit. */
export const CHUNK_STATES = 65_536;
/** Bytes of one handle's record in a base row. */
const RECORD_BYTES = HANDLE_BYTES;

/**
 * Base bytes a change byte earns. Above 1, so compaction keeps ahead of the changes and does not
 * fall behind into forced bursts: in a steady state a save writes its changes plus at most this
 * many times their bytes in bases.
 */
const CREDIT_PER_CHANGE_BYTE = 1.5;
/** A chunk is rebased early (credit permitting) from this ratio of change bytes to base bytes… */
const MIN_COMPACTION_RATIO = 0.5;
/** …and regardless of credit from this one: stored bytes stay below 3× the state. */
const FORCED_COMPACTION_RATIO = 2;

const HEAD_MAGIC = 0x49464d50; // "PMFI"
/**
 * 2 added the cohorts' early activation counts to the slots (a version 1 head restores without
 * them), 3 the matured early successes (a version 2 head restores them as unknown).
 */
const HEAD_VERSION = 3;

export interface Restored {
  aggregator: PartitionAggregator;
  checkpointer: AggregatorCheckpointer;
}

export interface IncrementalCheckpoint {
  head: Buffer;
  changes: PartChanges;
  settle(saved: boolean): void;
}

/** What the store holds, as far as this owner knows (from its restore and its settled saves). */
interface Stored {
  /** Per chunk: bytes of change rows after its base; undefined = the next save must write a base. */
  changeBytes: (number | undefined)[];
  /** Chunk parts that may have rows (from 0). */
  chunks: number;
  /** FIFO entries stored up to (exclusive) these sequence numbers. */
  dedupeEnd: number;
  markersEnd: number;
}

export class AggregatorCheckpointer {
  /** Base bytes earned by change bytes written, minus base bytes written (bounded): paces compaction. */
  private credit = 0;

  private constructor(private stored: Stored) {}

  /** For an aggregator whose state the store does not hold in parts (new, or a whole-state checkpoint). */
  static fresh(agg: PartitionAggregator): AggregatorCheckpointer {
    const s = agg.state();
    s.store.markAllChanged();
    return new AggregatorCheckpointer({ changeBytes: [], chunks: 0, dedupeEnd: s.dedupe.entries.startSeq, markersEnd: s.store.markerRing.startSeq });
  }

  /** The checkpoint at `offset` (the next offset to read): what changed since the last settled save. */
  take(agg: PartitionAggregator, offset: string): IncrementalCheckpoint {
    const s = agg.state();
    const store = s.store;
    const { n, freeHead, live } = store.scalars;
    const chunks = Math.ceil(n / CHUNK_STATES);
    const changed = store.takeChanged();
    const put: StatePart[] = [];
    const drop: PartChanges['drop'] = [];
    const changeBytes = this.stored.changeBytes.slice(0, chunks);
    const written: number[] = [];

    const base = (c: number) => {
      const from = c * CHUNK_STATES;
      const to = Math.min(n, (c + 1) * CHUNK_STATES);
      // Sized for the row (the header and a few extras fit in the slack): finish() keeps it, uncopied.
      const w = new ByteWriter(RECORD_BYTES * (to - from) + 256);
      store.writeRange(w, from, to);
      put.push({ part: PART_FIRST_CHUNK + c, seq: offset, data: w.finish() });
      drop.push({ part: PART_FIRST_CHUNK + c, below: offset });
      changeBytes[c] = 0;
      written.push(c);
      return put[put.length - 1].data.length;
    };
    if (changed === null) {
      for (let c = 0; c < chunks; c++) base(c);
    } else {
      // A chunk without a stored base (new, or its last rows may be lost) gets one, changed or
      // not. Only compaction spends credit: these bases are owed whatever the pace.
      for (let c = 0; c < chunks; c++) if (changeBytes[c] === undefined) base(c);
      const rows = new Map<number, Buffer>();
      for (let i = 0; i < changed.length; ) {
        const c = Math.floor(changed[i] / CHUNK_STATES);
        let j = i;
        while (j < changed.length && changed[j] < (c + 1) * CHUNK_STATES) j++;
        if (!written.includes(c)) {
          const w = new ByteWriter(64 + (j - i) * (RECORD_BYTES + 4));
          store.writeList(w, changed.subarray(i, j));
          const data = w.finish();
          rows.set(c, data);
          changeBytes[c] = (changeBytes[c] as number) + data.length;
          this.credit = Math.min(this.credit + CREDIT_PER_CHANGE_BYTE * data.length, 2 * RECORD_BYTES * CHUNK_STATES);
        }
        i = j;
      }
      this.compact(chunks, n, changeBytes, written, base);
      for (const [c, data] of rows) if (!written.includes(c)) {
        put.push({ part: PART_FIRST_CHUNK + c, seq: offset, data });
        written.push(c);
      }
    }
    for (let c = chunks; c < this.stored.chunks; c++) drop.push({ part: PART_FIRST_CHUNK + c });

    const dedupeEnd = appendFifo(put, drop, PART_DEDUPE, s.dedupe.entries, this.stored.dedupeEnd, true);
    const markersEnd = appendFifo(put, drop, PART_MARKERS, store.markerRing, this.stored.markersEnd, false);

    const w = new ByteWriter(4096);
    w.varint(HEAD_MAGIC).byte(HEAD_VERSION);
    writeHeader(w, s);
    s.dedupe.writeScalars(w);
    writeSlots(w, s.slots);
    w.varint(CHUNK_STATES).varint(n).varint(freeHead + 1).varint(live);
    w.varint(s.dedupe.entries.startSeq).varint(dedupeEnd);
    w.varint(store.markerRing.startSeq).varint(markersEnd);
    const head = w.finish();

    return {
      head,
      changes: { put, drop },
      settle: (saved) => {
        if (saved) {
          this.stored = { changeBytes, chunks, dedupeEnd, markersEnd };
        } else {
          // Those rows may not be stored: their chunks get bases next time (the FIFOs resend from
          // what was stored, so they need nothing).
          for (const c of written) this.stored.changeBytes[c] = undefined;
          this.stored.chunks = Math.max(this.stored.chunks, chunks);
        }
      },
    };
  }

  /**
   * Rebases chunks, the most changed (relative to its base) first: any whose changes reach twice
   * its base, then, while the credit covers a base, those whose changes reach half of it. Spending
   * the credit as it is earned spreads compaction over time; a uniform load would otherwise make
   * every chunk due at once.
   */
  private compact(chunks: number, n: number, changeBytes: (number | undefined)[], written: number[], base: (c: number) => number): void {
    const baseBytes = (c: number) => RECORD_BYTES * (Math.min(n, (c + 1) * CHUNK_STATES) - c * CHUNK_STATES);
    const candidates: { c: number; ratio: number }[] = [];
    for (let c = 0; c < chunks; c++) {
      const bytes = changeBytes[c];
      if (bytes === undefined || written.includes(c)) continue;
      const ratio = bytes / baseBytes(c);
      if (ratio >= MIN_COMPACTION_RATIO) candidates.push({ c, ratio });
    }
    candidates.sort((a, b) => b.ratio - a.ratio || a.c - b.c);
    for (const { c, ratio } of candidates) {
      if (ratio < FORCED_COMPACTION_RATIO && this.credit < baseBytes(c)) continue;
      this.credit -= base(c);
    }
  }

  /** An aggregator and its checkpointer from a head and its part rows (ordered by part, then seq). */
  static restore(head: Uint8Array, parts: readonly StatePart[], options: PartitionAggregatorOptions): Restored {
    return runSteps(AggregatorCheckpointer.restoreSteps(head, parts, options));
  }

  /**
   * restore() in slices of about `sliceMs`, awaiting `pause` between them (the runner gives the
   * event loop back and heartbeats); the same steps, so the same state. A rejected pause ends the
   * restore with its error and the partial state is dropped.
   */
  static restoreSliced(head: Uint8Array, parts: readonly StatePart[], options: PartitionAggregatorOptions, sliceMs: number, pause: () => Promise<void>): Promise<Restored> {
    return runStepsSliced(AggregatorCheckpointer.restoreSteps(head, parts, options), sliceMs, pause);
  }

  private static *restoreSteps(head: Uint8Array, parts: readonly StatePart[], options: PartitionAggregatorOptions): Steps<Restored> {
    const o = resolveOptions(options);
    const what = `incremental aggregator state of partition ${options.partition}`;
    const r = new ByteReader(head, what);
    if (r.varint() !== HEAD_MAGIC) throw r.fail('not an incremental aggregator state');
    const version = r.byte();
    if (version !== HEAD_VERSION && version !== 2 && version !== 1) throw r.fail(`unknown incremental state version ${version}`);
    const header = readHeader(r, o, 3);
    const dedupe = DedupeWindow.readScalars(r, o.maxDedupeEntries);
    const slots: FeatureSlot[] = [];
    const slotIndex = new Map<string, number>();
    readSlots(r, o.histogram, slots, slotIndex, version >= 2, version >= 3);
    const chunkStates = r.varint();
    const n = r.varint();
    const freeHead = r.varint() - 1;
    const live = r.varint();
    const dedupeSeq = [r.varint(), r.varint()] as const;
    const markerSeq = [r.varint(), r.varint()] as const;
    r.expectEnd();
    if (chunkStates < 1) throw r.fail('bad chunk size');
    const chunks = Math.ceil(n / chunkStates);

    const byPart = new Map<number, StatePart[]>();
    for (const p of parts) {
      const list = byPart.get(p.part) ?? [];
      list.push(p);
      byPart.set(p.part, list);
    }
    const fail = (detail: string) => new ByteReader(head, what).fail(detail);
    yield* readFifo(byPart.get(PART_DEDUPE) ?? [], dedupeSeq, true, (lo, hi, t) => dedupe.restoreEntry(lo, hi, t), fail);
    dedupe.entries.renumber(dedupeSeq[1]);
    const changeBytes: number[] = [];
    const rows: ByteReader[] = [];
    let stored = chunks;
    for (const [part, list] of byPart) {
      if (part < PART_FIRST_CHUNK) continue;
      const c = part - PART_FIRST_CHUNK;
      stored = Math.max(stored, c + 1);
      if (c >= chunks) continue; // left over from a larger store: dropped at the next save
      changeBytes[c] = list.slice(1).reduce((sum, p) => sum + p.data.length, 0);
      for (const p of list) rows.push(new ByteReader(p.data, `${what}, part ${part} row ${p.seq}`));
    }
    const { store, forgotten } = yield* UserStateStore.fromRecords(
      { n, freeHead, live },
      rows,
      o.maxRetiredUsers,
      slots.map((sl) => sl.cohorts.length),
      function* (ring) {
        let forgot = 0;
        yield* readFifo(byPart.get(PART_MARKERS) ?? [], markerSeq, false, (lo, hi) => {
          if (ring.full) {
            ring.shift();
            forgot++;
          }
          ring.push(lo, hi);
        }, fail);
        ring.renumber(markerSeq[1]);
        return forgot;
      },
      fail,
    );
    header.counters.forgottenUsers += forgotten;
    yield;
    const aggregator = yield* PartitionAggregator.fromStateSteps({ ...header, dedupe, slots, slotIndex, store }, options);
    const checkpointer = new AggregatorCheckpointer({ changeBytes, chunks: stored, dedupeEnd: dedupeSeq[1], markersEnd: markerSeq[1] });
    if (chunkStates !== CHUNK_STATES) {
      // Chunked differently: rewrite every chunk in this version's layout at the next save.
      store.markAllChanged();
      checkpointer.stored.changeBytes = [];
    }
    return { aggregator, checkpointer };
  }

  /** Whether `head` is an incremental head (not a whole state). */
  static isHead(head: Uint8Array): boolean {
    try {
      return new ByteReader(head, 'checkpoint head').varint() === HEAD_MAGIC;
    } catch {
      return false;
    }
  }
}

/** Appends the FIFO entries from max(storedEnd, start) on as one row; drops rows wholly gone. Returns the new stored end. */
function appendFifo(put: StatePart[], drop: PartChanges['drop'], part: number, ring: FingerprintRing, storedEnd: number, withTime: boolean): number {
  const from = Math.max(storedEnd, ring.startSeq);
  const end = ring.endSeq;
  if (end > from) {
    const count = end - from;
    const pairs = new Int32Array(2 * count);
    const times = new Float64Array(withTime ? count : 0);
    let k = 0;
    ring.forEachFrom(from, (lo, hi, time) => {
      pairs[2 * k] = lo;
      pairs[2 * k + 1] = hi;
      if (withTime) times[k] = time;
      k++;
    });
    const w = new ByteWriter(16 + pairs.byteLength + times.byteLength);
    w.varint(count).array(pairs);
    if (withTime) w.array(times);
    put.push({ part, seq: String(end), data: w.finish() });
  }
  // A row keyed e holds entries up to e (exclusive): gone once e <= start.
  if (ring.startSeq > 0) drop.push({ part, below: String(ring.startSeq + 1) });
  return end;
}

/** Feeds the entries with sequence numbers in [start, end), oldest first, from rows keyed by their end. */
function* readFifo(
  rows: readonly StatePart[],
  [start, end]: readonly [number, number],
  withTime: boolean,
  push: (lo: number, hi: number, time: number) => void,
  fail: (detail: string) => Error,
): Steps<void> {
  let next = start;
  for (const row of rows) {
    yield;
    const rowEnd = Number(row.seq);
    if (rowEnd <= next) continue;
    const r = new ByteReader(row.data, `FIFO row ${row.seq}`);
    const count = r.varint();
    const pairs = r.array((k) => new Int32Array(k), 2 * count, 'fingerprints');
    const times = withTime ? r.array((k) => new Float64Array(k), count, 'times') : undefined;
    r.expectEnd();
    const rowStart = rowEnd - count;
    if (rowStart > next) throw fail(`FIFO entries ${next}..${rowStart - 1} are missing (part ${row.part}, live ${start}..${end - 1}, rows ${rows.map((x) => `${x.seq}`).join(',')})`);
    for (let seq = Math.max(next, rowStart); seq < Math.min(rowEnd, end); seq++) {
      if (seq % HANDLES_PER_STEP === 0) yield;
      const k = seq - rowStart;
      push(pairs[2 * k], pairs[2 * k + 1], times ? times[k] : 0);
    }
    next = Math.max(next, Math.min(rowEnd, end));
  }
  if (next < end) throw fail(`FIFO entries ${next}..${end - 1} are missing`);
}
