// Pure mapping from decoded OTLP requests to FeatureEvents (docs/contract.md). Every record with
// a user id becomes an event (retention counts any activity); bad records are rejected with a
// reason and never take the good records of the same request down with them.

import type { FeatureEvent, FlagExposure } from '../../events/feature-event.js';
import { logRecordDigest } from '../decode/log-record-identity.js';
import { attributeKind, idAttribute, stringAttribute } from '../decode/otlp-attributes.js';
import type { OtlpKeyValue, OtlpLogRecord, OtlpLogsRequest, OtlpSpan, OtlpTracesRequest } from '../decode/otlp-types.js';
import { compareNanos, isZeroNanos, nanoHalves, nanosSpanMs, nanosToMs, type NanoHalves } from '../decode/otlp-types.js';

export const FLAG_EVALUATION_EVENT = 'feature_flag.evaluation';
const FEATURE_KEY = 'feature_flag.key';
const VARIANT_KEYS = ['feature_flag.result.variant', 'feature_flag.variant'] as const;
const USER_KEYS = ['feature_flag.context.id', 'enduser.id', 'user.id'] as const;

export type RejectReason =
  | 'invalid_trace_id' | 'invalid_span_id' | 'end_before_start' | 'timestamp_out_of_range'
  | 'value_too_long' | 'name_too_long' | 'wrong_type';
export type SkipReason = 'no_user' | 'flag_without_variant';

export interface MapperOptions {
  /** Attribute keys rule activation actions match on; only these are projected into `attrs`. */
  attributeKeys: ReadonlySet<string>;
  /** Wall-clock ms, only to refuse timestamps absurdly far in the future. */
  now: number;
  /** Raw user id → pseudonym; raw ids never reach an event. */
  pseudonymize: (rawUserId: string) => string;
  /** Longest accepted feature key, variant, user id or projected value (default 256). */
  maxValueLength?: number;
  /** Longest accepted span / event name (default 1024). */
  maxNameLength?: number;
}

export interface MapResult {
  events: FeatureEvent[];
  /** Spans or log records in the request. */
  received: number;
  /** Records refused as invalid (reported to the client as partial success). */
  rejected: number;
  rejectReasons: Partial<Record<RejectReason, number>>;
  /** Valid data that produces no (or a smaller) event: counted for metrics, not an error. */
  skipped: Partial<Record<SkipReason, number>>;
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

class Rejection {
  constructor(readonly reason: RejectReason) {}
}

class MapContext {
  readonly result: MapResult = { events: [], received: 0, rejected: 0, rejectReasons: {}, skipped: {} };
  readonly maxValue: number;
  readonly maxName: number;

  constructor(readonly opts: MapperOptions) {
    this.maxValue = opts.maxValueLength ?? 256;
    this.maxName = opts.maxNameLength ?? 1024;
  }

  reject(reason: RejectReason): void {
    this.result.rejected++;
    this.result.rejectReasons[reason] = (this.result.rejectReasons[reason] ?? 0) + 1;
  }

  skip(reason: SkipReason): void {
    this.result.skipped[reason] = (this.result.skipped[reason] ?? 0) + 1;
  }

  bounded(value: string, max: number, reason: RejectReason = 'value_too_long'): string {
    if (value.length > max) throw new Rejection(reason);
    return value;
  }

  timeMs(nanos: NanoHalves): number {
    const ms = nanosToMs(nanos);
    if (ms < YEAR_2000_MS || ms > this.opts.now + MAX_FUTURE_SKEW_MS) throw new Rejection('timestamp_out_of_range');
    return ms;
  }

  /** Flag exposure carried by one attribute list, if it names a feature. */
  exposure(attrs: readonly OtlpKeyValue[] | undefined): FlagExposure | undefined {
    const kind = attributeKind(attrs, FEATURE_KEY);
    if (kind === 'absent') return undefined;
    if (kind !== 'string') throw new Rejection('wrong_type');
    const feature = this.bounded(stringAttribute(attrs, FEATURE_KEY)!, this.maxValue);
    for (const key of VARIANT_KEYS) {
      const variant = stringAttribute(attrs, key);
      if (variant !== undefined) return { feature, variant: this.bounded(variant, this.maxValue) };
    }
    this.skip('flag_without_variant');
    return undefined;
  }

  user(carriers: readonly (readonly OtlpKeyValue[] | undefined)[]): string | undefined {
    for (const attrs of carriers) {
      for (const key of USER_KEYS) {
        const raw = idAttribute(attrs, key);
        if (raw !== undefined) return this.opts.pseudonymize(this.bounded(raw, this.maxValue));
      }
    }
    return undefined;
  }

  projected(attrs: readonly OtlpKeyValue[] | undefined): Record<string, string> | undefined {
    if (!attrs || this.opts.attributeKeys.size === 0) return undefined;
    let out: Record<string, string> | undefined;
    for (const kv of attrs) {
      if (!this.opts.attributeKeys.has(kv.key)) continue;
      const v = stringAttribute(attrs, kv.key);
      if (v !== undefined) (out ??= {})[kv.key] = this.bounded(v, this.maxValue);
    }
    return out;
  }

  guard(map: () => FeatureEvent | undefined): void {
    this.result.received++;
    try {
      const event = map();
      if (event) this.result.events.push(event);
    } catch (err) {
      if (err instanceof Rejection) this.reject(err.reason);
      else throw err;
    }
  }
}

function validId(id: Uint8Array | undefined, length: number): id is Uint8Array {
  return id !== undefined && id.length === length && id.some((b) => b !== 0);
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function dedupe(flags: FlagExposure[]): FlagExposure[] {
  const seen = new Set<string>();
  return flags.filter((f) => {
    const k = `${f.feature}\u0000${f.variant}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
}

function mapSpan(ctx: MapContext, span: OtlpSpan, resource: readonly OtlpKeyValue[] | undefined, origin: string | undefined): FeatureEvent | undefined {
  if (!validId(span.traceId, 16)) throw new Rejection('invalid_trace_id');
  if (!validId(span.spanId, 8)) throw new Rejection('invalid_span_id');
  const start = nanoHalves(span.startTimeUnixNano);
  const end = nanoHalves(span.endTimeUnixNano);
  if (compareNanos(end, start) < 0) throw new Rejection('end_before_start');
  const time = ctx.timeMs(start);
  ctx.timeMs(end);
  const evaluations = (span.events ?? []).filter((e) => e.name === FLAG_EVALUATION_EVENT);
  const user = ctx.user([span.attributes, ...evaluations.map((e) => e.attributes), resource]);
  const flags: FlagExposure[] = [];
  for (const attrs of [span.attributes, ...evaluations.map((e) => e.attributes)]) {
    const f = ctx.exposure(attrs);
    if (f) flags.push(f);
  }
  const name = ctx.bounded(span.name ?? '', ctx.maxName, 'name_too_long');
  const attrs = ctx.projected(span.attributes);
  if (user === undefined) {
    ctx.skip('no_user');
    return undefined;
  }
  const event: FeatureEvent = {
    user, time, id: hex(span.traceId) + hex(span.spanId), name,
    durationMs: nanosSpanMs(start, end), flags: dedupe(flags), source: 'span',
  };
  if (attrs) event.attrs = attrs;
  if (origin !== undefined) event.origin = origin;
  return event;
}

function logEventName(record: OtlpLogRecord): string | undefined {
  if (Object.hasOwn(record, 'eventName') && record.eventName) return record.eventName;
  return stringAttribute(record.attributes, 'event.name');
}

function mapLog(ctx: MapContext, record: OtlpLogRecord, resource: readonly OtlpKeyValue[] | undefined, origin: string | undefined): FeatureEvent | undefined {
  const t = nanoHalves(record.timeUnixNano);
  const nanos = isZeroNanos(t) ? nanoHalves(record.observedTimeUnixNano) : t;
  const time = ctx.timeMs(nanos);
  const eventName = logEventName(record);
  const name = ctx.bounded(eventName ?? '', ctx.maxName, 'name_too_long');
  const flag = eventName === FLAG_EVALUATION_EVENT ? ctx.exposure(record.attributes) : undefined;
  const user = ctx.user([record.attributes, resource]);
  const attrs = ctx.projected(record.attributes);
  if (user === undefined) {
    ctx.skip('no_user');
    return undefined;
  }
  // Two records of one span must not share an id, yet a resent record must keep its id.
  const digest = logRecordDigest(user, record);
  const traceSpan = validId(record.traceId, 16) && validId(record.spanId, 8) ? hex(record.traceId) + hex(record.spanId) : '';
  const event: FeatureEvent = { user, time, id: `${traceSpan}:${digest}`, name, flags: flag ? [flag] : [], source: 'log' };
  if (attrs) event.attrs = attrs;
  if (origin !== undefined) event.origin = origin;
  return event;
}

// mapTraces and mapLogs are alike on purpose: the two requests name their three levels differently
// (resourceSpans, scopeSpans, spans; resourceLogs, scopeLogs, logRecords), and a shared walker
// would need an accessor per level for two loops of three lines.
export function mapTraces(req: OtlpTracesRequest, opts: MapperOptions): MapResult {
  const ctx = new MapContext(opts);
  for (const rs of req.resourceSpans ?? []) {
    const resource = rs.resource?.attributes;
    const origin = originOf(resource);
    for (const ss of rs.scopeSpans ?? []) for (const span of ss.spans ?? []) ctx.guard(() => mapSpan(ctx, span, resource, origin));
  }
  return ctx.result;
}

export function mapLogs(req: OtlpLogsRequest, opts: MapperOptions): MapResult {
  const ctx = new MapContext(opts);
  for (const rl of req.resourceLogs ?? []) {
    const resource = rl.resource?.attributes;
    const origin = originOf(resource);
    for (const sl of rl.scopeLogs ?? []) for (const rec of sl.logRecords ?? []) ctx.guard(() => mapLog(ctx, rec, resource, origin));
  }
  return ctx.result;
}
