// The decoded OTLP shapes the mapper reads: the subset of opentelemetry-proto v1.9.0 it needs,
// in protobufjs' camelCase naming. A field is an OWN property only when it was on the wire
// (protobufjs keeps proto3 defaults on the prototype), so oneof members are tested with
// Object.hasOwn. The lazy scanner (otlp-scanner.ts) and the JSON decoder produce the same contract,
// except that the scanner may leave out span and resource attributes the mapper never reads.

/** fixed64 nanoseconds: protobufjs gives a Long; plain numbers, strings and bigints are accepted too. */
export type NanoTime = bigint | number | string | { low: number; high: number; unsigned?: boolean };

export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  /** int64: a Long from protobufjs, a bigint from the scanner, a string or number from JSON. */
  intValue?: unknown;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] } | null;
  kvlistValue?: { values?: OtlpKeyValue[] } | null;
  bytesValue?: Uint8Array;
}

/**
 * A string value left as its UTF-8 bytes in the request until read: the scanner gives user ids this
 * way, so the receiver's pseudonym cache can find the user by the bytes (nearly every id is a fresh
 * string otherwise, decoded and hashed once per span). Reading stringValue decodes it (once), as
 * protobufjs would. stringValue is not an own property here: test for a string with hasStringValue.
 */
export class Utf8Value implements OtlpAnyValue {
  private text: string | undefined = undefined;

  constructor(readonly buf: Buffer, readonly start: number, readonly end: number) {}

  get stringValue(): string {
    return (this.text ??= this.buf.toString('utf8', this.start, this.end));
  }
}

/** Whether the value is a string (protobufjs keeps defaults on the prototype, so own properties only). */
export function hasStringValue(v: OtlpAnyValue): boolean {
  return Object.hasOwn(v, 'stringValue') || v instanceof Utf8Value;
}

export interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue | null;
}

export interface OtlpResource {
  attributes?: OtlpKeyValue[];
}

export interface OtlpSpanEvent {
  timeUnixNano?: NanoTime;
  name?: string;
  attributes?: OtlpKeyValue[];
}

export interface OtlpSpan {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  name?: string;
  startTimeUnixNano?: NanoTime;
  endTimeUnixNano?: NanoTime;
  attributes?: OtlpKeyValue[];
  events?: OtlpSpanEvent[];
}

export interface OtlpTracesRequest {
  resourceSpans?: { resource?: OtlpResource | null; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

export interface OtlpLogRecord {
  timeUnixNano?: NanoTime;
  observedTimeUnixNano?: NanoTime;
  eventName?: string;
  severityNumber?: number;
  severityText?: string;
  body?: OtlpAnyValue | null;
  attributes?: OtlpKeyValue[];
  traceId?: Uint8Array;
  spanId?: Uint8Array;
}

export interface OtlpLogsRequest {
  resourceLogs?: { resource?: OtlpResource | null; scopeLogs?: { logRecords?: OtlpLogRecord[] }[] }[];
}

const TWO_32 = 4294967296n;

/** Exact unsigned nanoseconds; 64-bit values do not fit a double. */
export function nanosOf(t: NanoTime | undefined | null): bigint {
  if (t === undefined || t === null) return 0n;
  if (typeof t === 'bigint') return t;
  if (typeof t === 'number') return Number.isFinite(t) ? BigInt(Math.trunc(t)) : 0n;
  if (typeof t === 'string') return /^\d+$/.test(t) ? BigInt(t) : 0n;
  return BigInt(t.high >>> 0) * TWO_32 + BigInt(t.low >>> 0);
}

/** A fixed64 as unsigned 32-bit halves: exact like a bigint, but cheap to make and to do math on. */
export interface NanoHalves {
  high: number;
  low: number;
}

const ZERO: NanoHalves = { high: 0, low: 0 };

export function nanoHalves(t: NanoTime | undefined | null): NanoHalves {
  if (t === undefined || t === null) return ZERO;
  if (typeof t === 'object') return { high: t.high >>> 0, low: t.low >>> 0 };
  const u = BigInt.asUintN(64, nanosOf(t));
  return { high: Number(u >> 32n), low: Number(u & 0xffffffffn) };
}

export const isZeroNanos = (t: NanoHalves): boolean => t.high === 0 && t.low === 0;

export function compareNanos(a: NanoHalves, b: NanoHalves): number {
  return a.high !== b.high ? a.high - b.high : a.low - b.low;
}

/** floor(nanos / 1e6), exactly: 2^32 = 4294 * 1e6 + 967296, and high * 967296 + low < 2^53. */
export function nanosToMs(t: NanoHalves): number {
  return t.high * 4294 + Math.floor((t.high * 967_296 + t.low) / 1e6);
}

/** (end − start) in ms, rounded exactly as Number(end − start) / 1e6 on bigints would be. */
export function nanosSpanMs(start: NanoHalves, end: NanoHalves): number {
  return ((end.high - start.high) * 4_294_967_296 + (end.low - start.low)) / 1e6;
}
