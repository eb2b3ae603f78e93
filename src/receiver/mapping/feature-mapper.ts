// Pure mapping from decoded OTLP requests to feature events (docs/contract.md,
// docs/receiver.md). Every record with a user id becomes an event (retention counts any
// activity); bad records are rejected with a reason and never take the good records of the same
// request down with them. The mapper writes each event into one scratch object handed to a
// MappedEventOut, so mapping a span allocates nothing, and it maps a request in slices (a cursor
// over resource, scope and record) so the caller can yield to the event loop between them.

import type { FeatureEvent } from '../../events/feature-event.js';
import { configDefaults } from '../../config/schema.js';
import { logRecordDigest } from '../decode/log-record-identity.js';
import { attributeKind, attributeValue, idText, stringAttribute } from '../decode/otlp-attributes.js';
import type { NanoTime, OtlpKeyValue, OtlpLogRecord, OtlpLogsRequest, OtlpSpan, OtlpTracesRequest } from '../decode/otlp-types.js';
import { nanoHalves, Utf8Value } from '../decode/otlp-types.js';
import { collectEvents, scratchEvent, type MappedEvent, type MappedEventOut } from './mapped-event.js';
import type { Pseudonym } from './pseudonymizer.js';

export const FLAG_EVALUATION_EVENT = 'feature_flag.evaluation';
const FEATURE_KEY = 'feature_flag.key';
const VARIANT_KEYS = ['feature_flag.result.variant', 'feature_flag.variant'] as const;
const USER_KEYS = ['feature_flag.context.id', 'enduser.id', 'user.id'] as const;

export type RejectReason =
  | 'invalid_trace_id' | 'invalid_span_id' | 'end_before_start' | 'timestamp_out_of_range'
  | 'value_too_long' | 'name_too_long' | 'wrong_type';
export type SkipReason = 'no_user' | 'flag_without_variant' | 'duration_out_of_range' | 'feature_overflow' | 'cohort_overflow';

export interface MapperOptions {
  /** Attribute keys rule activation actions match on; only these are projected into `attrs`. */
  attributeKeys: ReadonlySet<string>;
  /** Wall-clock ms, only to refuse timestamps absurdly far in the future. */
  now: number;
  /** Raw user id → pseudonym (its text, or with its bytes and key hash); raw ids never reach an event. */
  pseudonymize: (rawUserId: string) => string | Pseudonym;
  /**
   * The same, for a user id the decoder left as UTF-8 bytes (Utf8Value): looked up by the bytes,
   * so the id is never decoded. Without it such ids are decoded and go through pseudonymize.
   */
  pseudonymizeUtf8?: (buf: Uint8Array, start: number, end: number) => Pseudonym;
  /** Longest accepted feature key, variant, user id or projected value (default 256). */
  maxValueLength?: number;
  /** Longest accepted span / event name (default 1024). */
  maxNameLength?: number;
  /**
   * Longest span duration taken as a latency (default 1 h). A longer span still counts as
   * activity and exposure, but without a duration, and is counted as duration_out_of_range: a
   * span "from the year 2000 until now" must not become a 10^11 ms latency sample.
   */
  maxDurationMs?: number;
  /** The cardinality guard: undefined when (feature, variant) may pass, else why not. */
  admitFlag?: (feature: string, variant: string) => 'feature_overflow' | 'cohort_overflow' | undefined;
}

export interface MapCounts {
  /** Spans or log records in the request. */
  received: number;
  /** Records refused as invalid (reported to the client as partial success). */
  rejected: number;
  rejectReasons: Partial<Record<RejectReason, number>>;
  /** Valid data that produces no (or a smaller) event: counted for metrics, not an error. */
  skipped: Partial<Record<SkipReason, number>>;
  /** Events written to the out. */
  produced: number;
}

export interface MapResult extends MapCounts {
  events: FeatureEvent[];
}

const YEAR_2000_MS = 946_684_800_000;
// The aggregator's watermark follows the slowest live origin, so a fast clock only delays its own
// windows; beyond an hour ahead the timestamp is more likely garbage than skew.
const MAX_FUTURE_SKEW_MS = 60 * 60_000;
const MAX_ORIGIN_LENGTH = 128;

/** The sender of a resource's records: service.name, plus the instance when it has one. */
function originOf(resource: readonly OtlpKeyValue[] | undefined): string | undefined {
  const service = stringAttribute(resource, 'service.name');
  const instance = stringAttribute(resource, 'service.instance.id');
  const origin = service !== undefined && instance !== undefined ? `${service}/${instance}` : (service ?? instance);
  return origin?.slice(0, MAX_ORIGIN_LENGTH);
}

function setUser(e: MappedEvent, user: string | Pseudonym): void {
  if (typeof user === 'string') {
    e.user = user;
    e.pseudonym = undefined;
  } else {
    e.user = user.text;
    e.pseudonym = user;
  }
}

class Rejection {
  constructor(readonly reason: RejectReason) {}
}

const high = (t: NanoTime | undefined): number => (t !== null && typeof t === 'object' ? t.high >>> 0 : nanoHalves(t).high);
const low = (t: NanoTime | undefined): number => (t !== null && typeof t === 'object' ? t.low >>> 0 : nanoHalves(t).low);
/** floor(nanos / 1e6), exactly: 2^32 = 4294 * 1e6 + 967296, and high * 967296 + low < 2^53. */
const msOf = (h: number, l: number): number => h * 4294 + Math.floor((h * 967_296 + l) / 1e6);

function validId(id: Uint8Array | undefined, length: number): id is Uint8Array {
  if (id === undefined || id.length !== length) return false;
  for (let i = 0; i < length; i++) if (id[i] !== 0) return true;
  return false;
}

/** Maps one request, resumably: each call maps up to `limit` more records. */
export class RequestMapper {
  readonly counts: MapCounts = { received: 0, rejected: 0, rejectReasons: {}, skipped: {}, produced: 0 };
  private readonly e: MappedEvent = scratchEvent();
  private readonly maxValue: number;
  private readonly maxName: number;
  private readonly maxDuration: number;
  private group = 0;
  private scope = 0;
  private index = 0;

  constructor(private readonly opts: MapperOptions, private readonly out: MappedEventOut) {
    this.maxValue = opts.maxValueLength ?? 256;
    this.maxName = opts.maxNameLength ?? 1024;
    this.maxDuration = opts.maxDurationMs ?? configDefaults.receiver.maxSpanDurationSeconds * 1000;
  }

  /** Maps up to `limit` more spans; true once the request is done. */
  traces(req: OtlpTracesRequest, limit = Number.POSITIVE_INFINITY): boolean {
    const groups = req.resourceSpans ?? [];
    let n = 0;
    for (; this.group < groups.length; this.group++, this.scope = 0) {
      const g = groups[this.group];
      const resource = g.resource?.attributes;
      this.e.origin = originOf(resource);
      const scopes = g.scopeSpans ?? [];
      for (; this.scope < scopes.length; this.scope++, this.index = 0) {
        const spans = scopes[this.scope].spans ?? [];
        while (this.index < spans.length) {
          if (n++ >= limit) return false;
          this.one(true, spans[this.index++], resource);
        }
      }
    }
    return true;
  }

  /** Maps up to `limit` more log records; true once the request is done. */
  logs(req: OtlpLogsRequest, limit = Number.POSITIVE_INFINITY): boolean {
    const groups = req.resourceLogs ?? [];
    let n = 0;
    for (; this.group < groups.length; this.group++, this.scope = 0) {
      const g = groups[this.group];
      const resource = g.resource?.attributes;
      this.e.origin = originOf(resource);
      const scopes = g.scopeLogs ?? [];
      for (; this.scope < scopes.length; this.scope++, this.index = 0) {
        const records = scopes[this.scope].logRecords ?? [];
        while (this.index < records.length) {
          if (n++ >= limit) return false;
          this.one(false, records[this.index++], resource);
        }
      }
    }
    return true;
  }

  private one(span: boolean, record: OtlpSpan | OtlpLogRecord, resource: readonly OtlpKeyValue[] | undefined): void {
    const c = this.counts;
    c.received++;
    try {
      const ok = span ? this.span(record as OtlpSpan, resource) : this.log(record as OtlpLogRecord, resource);
      if (!ok) return;
      this.admitFlags();
      this.out.write(this.e);
      c.produced++;
    } catch (err) {
      if (!(err instanceof Rejection)) throw err;
      c.rejected++;
      c.rejectReasons[err.reason] = (c.rejectReasons[err.reason] ?? 0) + 1;
    }
  }

  private skip(reason: SkipReason): void {
    this.counts.skipped[reason] = (this.counts.skipped[reason] ?? 0) + 1;
  }

  private bounded(value: string, max: number, reason: RejectReason = 'value_too_long'): string {
    if (value.length > max) throw new Rejection(reason);
    return value;
  }

  private timeMs(h: number, l: number): number {
    const ms = msOf(h, l);
    if (ms < YEAR_2000_MS || ms > this.opts.now + MAX_FUTURE_SKEW_MS) throw new Rejection('timestamp_out_of_range');
    return ms;
  }

  /** Adds the flag exposure one attribute list carries, if it names a feature (duplicates once). */
  private exposure(attrs: readonly OtlpKeyValue[] | undefined): void {
    const kind = attributeKind(attrs, FEATURE_KEY);
    if (kind === 'absent') return;
    if (kind !== 'string') throw new Rejection('wrong_type');
    const feature = this.bounded(stringAttribute(attrs, FEATURE_KEY)!, this.maxValue);
    for (const key of VARIANT_KEYS) {
      const v = stringAttribute(attrs, key);
      if (v === undefined) continue;
      const variant = this.bounded(v, this.maxValue);
      const e = this.e;
      for (let i = 0; i < e.flagCount; i++) if (e.features[i] === feature && e.variants[i] === variant) return;
      e.features[e.flagCount] = feature;
      e.variants[e.flagCount] = variant;
      e.flagCount++;
      return;
    }
    this.skip('flag_without_variant');
  }

  private userIn(attrs: readonly OtlpKeyValue[] | undefined): string | Pseudonym | undefined {
    if (!attrs) return undefined;
    const byBytes = this.opts.pseudonymizeUtf8;
    for (const key of USER_KEYS) {
      const v = attributeValue(attrs, key);
      if (v === undefined) continue;
      // A string never has more UTF-16 units than its UTF-8 bytes, so an id within the bound in
      // bytes is within it as text; an empty one is no id, as idText says.
      if (byBytes !== undefined && v instanceof Utf8Value && v.end - v.start <= this.maxValue) {
        if (v.end > v.start) return byBytes(v.buf, v.start, v.end);
        continue;
      }
      const raw = idText(v);
      if (raw !== undefined) return this.opts.pseudonymize(this.bounded(raw, this.maxValue));
    }
    return undefined;
  }

  private project(attrs: readonly OtlpKeyValue[] | undefined): void {
    const e = this.e;
    e.attrCount = 0;
    if (!attrs || this.opts.attributeKeys.size === 0) return;
    for (const kv of attrs) {
      if (!this.opts.attributeKeys.has(kv.key)) continue;
      const v = stringAttribute(attrs, kv.key);
      if (v === undefined) continue;
      // A key repeated in one list keeps its first value, as the look-up by key does.
      let seen = false;
      for (let i = 0; i < e.attrCount; i++) if (e.attrKeys[i] === kv.key) seen = true;
      if (seen) continue;
      e.attrKeys[e.attrCount] = kv.key;
      e.attrValues[e.attrCount] = this.bounded(v, this.maxValue);
      e.attrCount++;
    }
  }

  private admitFlags(): void {
    const admit = this.opts.admitFlag;
    const e = this.e;
    if (!admit || e.flagCount === 0) return;
    let kept = 0;
    for (let i = 0; i < e.flagCount; i++) {
      const overflow = admit(e.features[i], e.variants[i]);
      if (overflow) {
        this.skip(overflow);
        continue;
      }
      e.features[kept] = e.features[i];
      e.variants[kept] = e.variants[i];
      kept++;
    }
    e.flagCount = kept;
  }

  private span(span: OtlpSpan, resource: readonly OtlpKeyValue[] | undefined): boolean {
    if (!validId(span.traceId, 16)) throw new Rejection('invalid_trace_id');
    if (!validId(span.spanId, 8)) throw new Rejection('invalid_span_id');
    const sh = high(span.startTimeUnixNano);
    const sl = low(span.startTimeUnixNano);
    const eh = high(span.endTimeUnixNano);
    const el = low(span.endTimeUnixNano);
    if (eh < sh || (eh === sh && el < sl)) throw new Rejection('end_before_start');
    const e = this.e;
    e.time = this.timeMs(sh, sl);
    this.timeMs(eh, el);
    const events = span.events;
    let user = this.userIn(span.attributes);
    if (user === undefined && events) {
      for (const ev of events) {
        if (ev.name !== FLAG_EVALUATION_EVENT) continue;
        user = this.userIn(ev.attributes);
        if (user !== undefined) break;
      }
    }
    user ??= this.userIn(resource);
    e.flagCount = 0;
    this.exposure(span.attributes);
    if (events) for (const ev of events) if (ev.name === FLAG_EVALUATION_EVENT) this.exposure(ev.attributes);
    e.name = this.bounded(span.name ?? '', this.maxName, 'name_too_long');
    this.project(span.attributes);
    if (user === undefined) {
      this.skip('no_user');
      return false;
    }
    setUser(e, user);
    e.source = 'span';
    e.traceId = span.traceId;
    e.spanId = span.spanId;
    e.idText = '';
    // (end − start) in ms, rounded as Number(end − start) / 1e6 on bigints would be.
    const duration = ((eh - sh) * 4_294_967_296 + (el - sl)) / 1e6;
    if (duration > this.maxDuration) {
      this.skip('duration_out_of_range');
      e.durationMs = Number.NaN;
    } else e.durationMs = duration;
    return true;
  }

  private log(record: OtlpLogRecord, resource: readonly OtlpKeyValue[] | undefined): boolean {
    const e = this.e;
    const t = high(record.timeUnixNano) === 0 && low(record.timeUnixNano) === 0 ? record.observedTimeUnixNano : record.timeUnixNano;
    e.time = this.timeMs(high(t), low(t));
    const eventName = Object.hasOwn(record, 'eventName') && record.eventName ? record.eventName : stringAttribute(record.attributes, 'event.name');
    e.name = this.bounded(eventName ?? '', this.maxName, 'name_too_long');
    e.flagCount = 0;
    if (eventName === FLAG_EVALUATION_EVENT) this.exposure(record.attributes);
    const user = this.userIn(record.attributes) ?? this.userIn(resource);
    this.project(record.attributes);
    if (user === undefined) {
      this.skip('no_user');
      return false;
    }
    setUser(e, user);
    e.source = 'log';
    e.durationMs = Number.NaN;
    // Two records of one span must not share an id, yet a resent record must keep its id.
    const digest = logRecordDigest(e.user, record);
    const traceSpan = validId(record.traceId, 16) && validId(record.spanId, 8)
      ? Buffer.from(record.traceId.buffer, record.traceId.byteOffset, 16).toString('hex') + Buffer.from(record.spanId.buffer, record.spanId.byteOffset, 8).toString('hex')
      : '';
    e.traceId = undefined;
    e.spanId = undefined;
    e.idText = `${traceSpan}:${digest}`;
    return true;
  }
}

/** Maps a whole request into FeatureEvent objects (tests, tools and the reference decoders). */
export function mapTraces(req: OtlpTracesRequest, opts: MapperOptions): MapResult {
  const events: FeatureEvent[] = [];
  const m = new RequestMapper(opts, collectEvents(events));
  m.traces(req);
  return { ...m.counts, events };
}

export function mapLogs(req: OtlpLogsRequest, opts: MapperOptions): MapResult {
  const events: FeatureEvent[] = [];
  const m = new RequestMapper(opts, collectEvents(events));
  m.logs(req);
  return { ...m.counts, events };
}
