// OTLP/JSON (the protobuf JSON mapping with OTLP's exceptions: trace and span ids in hex, enums
// as integers, 64-bit integers as decimal strings or numbers) decoded into the same request shape
// the protobuf decoders give the mapper. Field names are lowerCamelCase; the original snake_case
// names are accepted too, as the protobuf JSON mapping requires of parsers.
//
// A body that is not JSON, or whose structure has the wrong types, is a decode error for the whole
// request (400), exactly like malformed protobuf. An id that is not hex becomes an empty id, so the
// mapper rejects that one span (partial success) and keeps the others.

import { PmfError } from '../../core/errors.js';
import type { OtlpDecoder } from './otlp-decoder.js';
import type { RequestCounter } from './request-limits.js';
import type {
  NanoTime, OtlpAnyValue, OtlpKeyValue, OtlpLogRecord, OtlpLogsRequest, OtlpSpan, OtlpSpanEvent, OtlpTracesRequest,
} from './otlp-types.js';

type Json = Record<string, unknown>;

class JsonShapeError extends Error {}

const MAX_DEPTH = 64;

function field(o: Json, camel: string, snake: string): unknown {
  const v = o[camel];
  return v === undefined ? o[snake] : v;
}

function object(v: unknown, path: string): Json | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new JsonShapeError(`${path} must be an object`);
  return v as Json;
}

function list(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new JsonShapeError(`${path} must be an array`);
  return v;
}

function text(v: unknown, path: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new JsonShapeError(`${path} must be a string`);
  return v;
}

const INT64_TEXT = /^-?\d{1,20}$/;
const UINT64_TEXT = /^\d{1,20}$/;

function int64(v: unknown, path: string): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && INT64_TEXT.test(v)) {
    const n = BigInt(v);
    if (n >= -(2n ** 63n) && n < 2n ** 63n) return n;
  }
  throw new JsonShapeError(`${path} must be a 64-bit integer (a decimal string or a number)`);
}

function nanos(v: unknown, path: string): NanoTime | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && UINT64_TEXT.test(v)) {
    const n = BigInt(v);
    if (n < 2n ** 64n) return n;
  }
  throw new JsonShapeError(`${path} must be unsigned 64-bit nanoseconds (a decimal string or a number)`);
}

function int32(v: unknown, path: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 31) throw new JsonShapeError(`${path} must be an integer`);
  return n;
}

function double(v: unknown, path: string): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw new JsonShapeError(`${path} must be a number`);
}

const HEX_ID = /^(?:[0-9a-fA-F]{2})*$/;

function hexId(v: unknown, path: string): Uint8Array | undefined {
  const s = text(v, path);
  if (s === undefined) return undefined;
  return HEX_ID.test(s) ? Buffer.from(s, 'hex') : new Uint8Array();
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function anyValue(v: unknown, path: string, depth: number): OtlpAnyValue | null {
  const o = object(v, path);
  if (!o) return null;
  if (depth > MAX_DEPTH) throw new JsonShapeError(`${path} nests deeper than ${MAX_DEPTH} levels`);
  const out: OtlpAnyValue = {};
  const s = field(o, 'stringValue', 'string_value');
  if (s !== undefined) out.stringValue = text(s, `${path}.stringValue`) ?? '';
  const b = field(o, 'boolValue', 'bool_value');
  if (b !== undefined) {
    if (typeof b !== 'boolean') throw new JsonShapeError(`${path}.boolValue must be a boolean`);
    out.boolValue = b;
  }
  const i = field(o, 'intValue', 'int_value');
  if (i !== undefined) out.intValue = int64(i, `${path}.intValue`);
  const d = field(o, 'doubleValue', 'double_value');
  if (d !== undefined) out.doubleValue = double(d, `${path}.doubleValue`);
  const a = field(o, 'arrayValue', 'array_value');
  if (a !== undefined) {
    const arr = object(a, `${path}.arrayValue`);
    out.arrayValue = { values: list(arr?.values, `${path}.arrayValue.values`).map((x, k) => anyValue(x, `${path}.arrayValue.values[${k}]`, depth + 1) ?? {}) };
  }
  const kv = field(o, 'kvlistValue', 'kvlist_value');
  if (kv !== undefined) {
    const kvl = object(kv, `${path}.kvlistValue`);
    out.kvlistValue = { values: keyValues(kvl?.values, `${path}.kvlistValue.values`, depth + 1) };
  }
  const y = field(o, 'bytesValue', 'bytes_value');
  if (y !== undefined) {
    const t = text(y, `${path}.bytesValue`) ?? '';
    if (!BASE64.test(t)) throw new JsonShapeError(`${path}.bytesValue must be base64`);
    out.bytesValue = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
  }
  return out;
}

// The counter of the request being decoded: decoding is synchronous, so one slot suffices.
let counter: RequestCounter | undefined;

function keyValues(v: unknown, path: string, depth = 0): OtlpKeyValue[] {
  const items = list(v, path);
  counter?.attribute(items.length);
  return items.map((x, k) => {
    const p = `${path}[${k}]`;
    const o = object(x, p) ?? {};
    return { key: text(o.key, `${p}.key`) ?? '', value: anyValue(o.value, `${p}.value`, depth) };
  });
}

function resourceOf(o: Json, path: string): { attributes: OtlpKeyValue[] } | null {
  const r = object(o.resource, `${path}.resource`);
  return r ? { attributes: keyValues(r.attributes, `${path}.resource.attributes`) } : null;
}

function span(v: unknown, path: string): OtlpSpan {
  const o = object(v, path) ?? {};
  const out: OtlpSpan = {
    traceId: hexId(field(o, 'traceId', 'trace_id'), `${path}.traceId`),
    spanId: hexId(field(o, 'spanId', 'span_id'), `${path}.spanId`),
    name: text(o.name, `${path}.name`),
    startTimeUnixNano: nanos(field(o, 'startTimeUnixNano', 'start_time_unix_nano'), `${path}.startTimeUnixNano`),
    endTimeUnixNano: nanos(field(o, 'endTimeUnixNano', 'end_time_unix_nano'), `${path}.endTimeUnixNano`),
    attributes: keyValues(o.attributes, `${path}.attributes`),
    events: list(o.events, `${path}.events`).map((e, k): OtlpSpanEvent => {
      const p = `${path}.events[${k}]`;
      const eo = object(e, p) ?? {};
      return {
        timeUnixNano: nanos(field(eo, 'timeUnixNano', 'time_unix_nano'), `${p}.timeUnixNano`),
        name: text(eo.name, `${p}.name`),
        attributes: keyValues(eo.attributes, `${p}.attributes`),
      };
    }),
  };
  return out;
}

function logRecord(v: unknown, path: string): OtlpLogRecord {
  const o = object(v, path) ?? {};
  const out: OtlpLogRecord = {
    timeUnixNano: nanos(field(o, 'timeUnixNano', 'time_unix_nano'), `${path}.timeUnixNano`),
    observedTimeUnixNano: nanos(field(o, 'observedTimeUnixNano', 'observed_time_unix_nano'), `${path}.observedTimeUnixNano`),
    severityNumber: int32(field(o, 'severityNumber', 'severity_number'), `${path}.severityNumber`),
    severityText: text(field(o, 'severityText', 'severity_text'), `${path}.severityText`),
    body: anyValue(o.body, `${path}.body`, 0),
    attributes: keyValues(o.attributes, `${path}.attributes`),
    traceId: hexId(field(o, 'traceId', 'trace_id'), `${path}.traceId`),
    spanId: hexId(field(o, 'spanId', 'span_id'), `${path}.spanId`),
  };
  const eventName = text(field(o, 'eventName', 'event_name'), `${path}.eventName`);
  if (eventName !== undefined) out.eventName = eventName;
  return out;
}

function parse(body: Uint8Array, what: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (err) {
    throw new PmfError('ERR_OTLP_DECODE', `malformed ${what} (JSON): ${(err as Error).message}`, { cause: err });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PmfError('ERR_OTLP_DECODE', `malformed ${what} (JSON): not an object`);
  return v as Json;
}

/** The field names of one signal's nesting: resource → scope → records. */
interface Nesting {
  what: string;
  resource: [string, string];
  scope: [string, string];
  records: [string, string];
}

const TRACES: Nesting = {
  what: 'ExportTraceServiceRequest', resource: ['resourceSpans', 'resource_spans'], scope: ['scopeSpans', 'scope_spans'], records: ['spans', 'spans'],
};
const LOGS: Nesting = {
  what: 'ExportLogsServiceRequest', resource: ['resourceLogs', 'resource_logs'], scope: ['scopeLogs', 'scope_logs'], records: ['logRecords', 'log_records'],
};

/** Walks resource → scope → records, turning shape errors into ERR_OTLP_DECODE. */
function decodeNested<R>(body: Uint8Array, n: Nesting, record: (v: unknown, path: string) => R) {
  const root = parse(body, n.what);
  try {
    return list(field(root, ...n.resource), n.resource[0]).map((rv, i) => {
      const p = `${n.resource[0]}[${i}]`;
      const o = object(rv, p) ?? {};
      const scopes = list(field(o, ...n.scope), `${p}.${n.scope[0]}`).map((sv, j) => {
        const q = `${p}.${n.scope[0]}[${j}]`;
        const records = list(field(object(sv, q) ?? {}, ...n.records), `${q}.${n.records[0]}`);
        counter?.record(records.length);
        return records.map((v, k) => record(v, `${q}.${n.records[0]}[${k}]`));
      });
      return { resource: resourceOf(o, p), scopes };
    });
  } catch (err) {
    if (err instanceof JsonShapeError) throw new PmfError('ERR_OTLP_DECODE', `malformed ${n.what} (JSON): ${err.message}`, { cause: err });
    throw err;
  }
}

function counted<T>(c: RequestCounter | undefined, decode: () => T): T {
  counter = c;
  try {
    return decode();
  } finally {
    counter = undefined;
  }
}

export function createJsonDecoder(): OtlpDecoder {
  return {
    decodeTraces: (body, c): OtlpTracesRequest => counted(c, () => ({
      resourceSpans: decodeNested(body, TRACES, span).map((g) => ({ resource: g.resource, scopeSpans: g.scopes.map((spans) => ({ spans })) })),
    })),
    decodeLogs: (body, c): OtlpLogsRequest => counted(c, () => ({
      resourceLogs: decodeNested(body, LOGS, logRecord).map((g) => ({ resource: g.resource, scopeLogs: g.scopes.map((logRecords) => ({ logRecords })) })),
    })),
  };
}
