// The mapper's output, one record at a time: a scratch event the mapper overwrites for every span
// or log record and hands to a MappedEventOut, so the hot path builds no object per span. The
// batcher (event-batcher.ts) writes it straight into a pmf.events record; collectEvents turns
// it into FeatureEvent objects for tests and tools.

import type { EventSource, FeatureEvent, FlagExposure } from '../../events/feature-event.js';
import type { Pseudonym } from './pseudonymizer.js';

export interface MappedEvent {
  user: string;
  /** The user's pseudonym bytes and key hash, when the pseudonymizer gave them (the receiver's path). */
  pseudonym: Pseudonym | undefined;
  time: number;
  source: EventSource;
  /** Spans: the id is these two views into the request, as hex. Otherwise idText. */
  traceId: Uint8Array | undefined;
  spanId: Uint8Array | undefined;
  idText: string;
  name: string;
  /** NaN when the record has no (usable) duration. */
  durationMs: number;
  flagCount: number;
  readonly features: string[];
  readonly variants: string[];
  attrCount: number;
  readonly attrKeys: string[];
  readonly attrValues: string[];
  /** The resource's service (FeatureEvent.origin), if it names one. */
  origin: string | undefined;
}

export interface MappedEventOut {
  /** Called once per mapped record; `e` is only valid during the call. */
  write(e: MappedEvent): void;
}

export function scratchEvent(): MappedEvent {
  return {
    user: '', pseudonym: undefined, time: 0, source: 'span', traceId: undefined, spanId: undefined, idText: '', name: '',
    durationMs: Number.NaN, flagCount: 0, features: [], variants: [], attrCount: 0, attrKeys: [], attrValues: [], origin: undefined,
  };
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** The FeatureEvent the scratch event stands for. */
export function toFeatureEvent(e: MappedEvent): FeatureEvent {
  const flags: FlagExposure[] = [];
  for (let i = 0; i < e.flagCount; i++) flags.push({ feature: e.features[i], variant: e.variants[i] });
  const id = e.traceId && e.spanId ? hex(e.traceId) + hex(e.spanId) : e.idText;
  const out: FeatureEvent = Number.isNaN(e.durationMs)
    ? { user: e.user, time: e.time, id, name: e.name, flags, source: e.source }
    : { user: e.user, time: e.time, id, name: e.name, durationMs: e.durationMs, flags, source: e.source };
  if (e.attrCount > 0) {
    const attrs: Record<string, string> = {};
    for (let i = 0; i < e.attrCount; i++) attrs[e.attrKeys[i]] = e.attrValues[i];
    out.attrs = attrs;
  }
  if (e.origin !== undefined) out.origin = e.origin;
  return out;
}

/** An out that keeps FeatureEvent objects. */
export function collectEvents(into: FeatureEvent[]): MappedEventOut {
  return { write: (e) => into.push(toFeatureEvent(e)) };
}
