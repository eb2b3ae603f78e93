// The per-feature slot of a PartitionAggregator (its rule, or none while frozen, and its cohort
// accumulators), the slots' checkpoint codec, and the checks on incoming records (event shape,
// offsets) that the aggregator applies before anything else.

import type { ByteReader, ByteWriter } from '../core/byte-codec.js';
import type { EventBody } from '../events/feature-event.js';
import type { LatencyHistogramSettings } from '../events/latency-histogram.js';
import { CohortAccumulator } from './cohort-accumulator.js';
import type { CompiledRule } from './compiled-rule.js';
import { MAX_FEATURES } from './user-state-store.js';

export interface FeatureSlot {
  readonly name: string;
  rule: CompiledRule | undefined;
  readonly cohorts: CohortAccumulator[];
  readonly cohortIndex: Map<string, number>;
}

export const OFFSET_PATTERN = /^(0|[1-9][0-9]*)$/;

export function writeSlots(w: ByteWriter, slots: readonly FeatureSlot[]): void {
  w.varint(slots.length);
  for (const slot of slots) {
    w.string(slot.name).varint(slot.cohorts.length);
    for (const acc of slot.cohorts) acc.write(w);
  }
}

/**
 * Reads what writeSlots wrote into `slots` / `slotIndex` (rules unset: frozen until setRules);
 * `withEarly` false for slots written before the early activation counts existed, `withMaturedEarly`
 * false before the matured early successes were counted.
 */
export function readSlots(
  r: ByteReader,
  histogram: Partial<LatencyHistogramSettings>,
  slots: FeatureSlot[],
  slotIndex: Map<string, number>,
  withEarly: boolean,
  withMaturedEarly: boolean,
): void {
  const slotCount = r.varint();
  if (slotCount > MAX_FEATURES) throw r.fail(`${slotCount} features`);
  for (let i = 0; i < slotCount; i++) {
    const name = r.string();
    if (slotIndex.has(name)) throw r.fail(`duplicate feature ${JSON.stringify(name)}`);
    const slot: FeatureSlot = { name, rule: undefined, cohorts: [], cohortIndex: new Map() };
    const cohortCount = r.varint();
    for (let j = 0; j < cohortCount; j++) {
      const acc = CohortAccumulator.read(r, name, histogram, withEarly, withMaturedEarly);
      if (slot.cohortIndex.has(acc.cohort)) throw r.fail(`duplicate cohort ${JSON.stringify(acc.cohort)}`);
      slot.cohortIndex.set(acc.cohort, j);
      slot.cohorts.push(acc);
    }
    slotIndex.set(name, slots.length);
    slots.push(slot);
  }
}

/** The checks on everything but the user and id (event-keys.ts checks those). */
export function isValidBody(e: EventBody): boolean {
  if (!Number.isFinite(e.time)) return false;
  if (typeof e.name !== 'string' || !Array.isArray(e.flags)) return false;
  for (const f of e.flags) if (typeof f?.feature !== 'string' || typeof f.variant !== 'string') return false;
  if (e.origin !== undefined && typeof e.origin !== 'string') return false;
  return e.durationMs === undefined || typeof e.durationMs === 'number';
}

export function carriesFeature(e: EventBody, feature: string): boolean {
  for (const f of e.flags) if (f.feature === feature) return true;
  return false;
}

/** Decimal offsets without leading zeros: longer is larger, equal length compares as text. */
export function offsetAfter(a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a > b;
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
