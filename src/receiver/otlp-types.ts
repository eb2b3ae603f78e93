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
