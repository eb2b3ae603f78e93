// The parts a partition aggregator's state is made of, and its whole-state codec: one buffer
// with every part (the checkpoint format before incremental checkpoints, still what replay tools
// and tests use). The incremental codec (aggregator-checkpoint.ts) writes the same small parts in
// a head and the large ones as rows; both start with the header written here.

import { PmfError } from '../core/errors.js';
import { ByteReader, ByteWriter } from '../core/byte-codec.js';
import { COUNTER_NAMES, V2_COUNTERS, zeroCounters, type AggregatorCounters } from './aggregator-counters.js';
import { resolveOptions, type PartitionAggregatorOptions, type ResolvedOptions } from './aggregator-options.js';
import { DedupeWindow } from './dedupe-window.js';
import { OFFSET_PATTERN, readSlots, writeSlots, type FeatureSlot } from './feature-slot.js';
import { SourceWatermark } from './source-watermark.js';
import { UserStateStore } from './user-state-store.js';

export interface AggregatorState {
  partition: number;
  lastOffset: string | undefined;
  clock: SourceWatermark;
  counters: AggregatorCounters;
  dedupe: DedupeWindow;
  slots: FeatureSlot[];
  slotIndex: Map<string, number>;
  store: UserStateStore;
}

const STATE_MAGIC = 0x41464d50; // "PMFA"
/**
 * 4 added the cohorts' early activation counts and the states' early flags (3 and 2 restore without
 * them), 5 the matured early successes (4 restores them as unknown).
 */
const STATE_VERSION = 5;

/** Partition, offset, watermark clock and counters. */
export function writeHeader(w: ByteWriter, s: AggregatorState): void {
  w.varint(s.partition).string(s.lastOffset ?? '');
  s.clock.write(w);
  w.varint(COUNTER_NAMES.length);
  for (const name of COUNTER_NAMES) w.varint(s.counters[name]);
}

export function readHeader(r: ByteReader, o: ResolvedOptions, version: number): Pick<AggregatorState, 'partition' | 'lastOffset' | 'clock' | 'counters'> {
  const partition = r.varint();
  if (partition !== o.partition) {
    throw new PmfError('ERR_INTERNAL', `state of partition ${partition} cannot be restored as partition ${o.partition}`);
  }
  const lastOffset = r.string();
  if (lastOffset !== '' && !OFFSET_PATTERN.test(lastOffset)) throw r.fail('bad offset');
  const clock = version === 2
    ? SourceWatermark.fromLegacy(r.float64(), o.allowedLatenessMs, o.sourceIdleMs, o.maxSources)
    : SourceWatermark.read(r, o.allowedLatenessMs, o.sourceIdleMs, o.maxSources);
  const counterCount = r.varint();
  const expected = version === 2 ? V2_COUNTERS : COUNTER_NAMES.length;
  if (counterCount !== expected) throw r.fail(`expected ${expected} counters, got ${counterCount}`);
  const counters = zeroCounters();
  for (const name of COUNTER_NAMES.slice(0, expected)) counters[name] = r.varint();
  return { partition, lastOffset: lastOffset === '' ? undefined : lastOffset, clock, counters };
}

export function encodeState(s: AggregatorState): Buffer {
  const w = new ByteWriter(4096 + s.store.handleLimit * 48 + s.dedupe.size * 20);
  w.varint(STATE_MAGIC).byte(STATE_VERSION);
  writeHeader(w, s);
  s.dedupe.write(w);
  writeSlots(w, s.slots);
  s.store.write(w);
  return w.finish();
}

export function decodeState(bytes: Uint8Array, options: PartitionAggregatorOptions): AggregatorState {
  const o = resolveOptions(options);
  const r = new ByteReader(bytes, `aggregator state of partition ${options.partition}`);
  if (r.varint() !== STATE_MAGIC) throw r.fail('not an aggregator state');
  const version = r.byte();
  if (version !== STATE_VERSION && version !== 4 && version !== 3 && version !== 2) throw r.fail(`unknown state version ${version}`);
  const header = readHeader(r, o, version);
  const dedupe = DedupeWindow.read(r, o.maxDedupeEntries);
  const slots: FeatureSlot[] = [];
  const slotIndex = new Map<string, number>();
  readSlots(r, o.histogram, slots, slotIndex, version >= 4, version >= 5);
  const { store, forgotten } = UserStateStore.read(r, o.maxRetiredUsers, slots.map((s) => s.cohorts.length));
  r.expectEnd();
  header.counters.forgottenUsers += forgotten;
  return { ...header, dedupe, slots, slotIndex, store };
}
