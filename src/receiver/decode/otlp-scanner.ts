// The receiver's fast protobuf decode path: walks ExportTraceServiceRequest /
// ExportLogsServiceRequest bytes once and builds only what the mapper reads. Span and resource
// attributes are matched on their key bytes and only the keys mapping looks at are decoded (the
// first of each key per list: the mapper reads no other), at most MAX_SPAN_EVENTS events a span;
// scopes, links, status, trace state and dropped counts are skipped by length. Log records are
// decoded whole (their dedupe id digests every field). Ids stay views into the request buffer.
//
// Each message type has its own field loop (tag, field number, wire type, delimited sub-message)
// although the loops look alike: a generic field-table walker would cost a closure call and a
// lookup per field on the receiver's hottest path, and the loops differ in which fields they read,
// which wire types they refuse and what they skip.
//
// The result has the protobufjs decoder's contract (otlp-types.ts), and the unit tests check that
// the mapper gives the same answer from both on fuzzed input. Known fields with the wrong wire
// type are refused here (protobufjs would read them as their declared type, i.e. misread them).

import { PmfError } from '../../core/errors.js';
import type { OtlpDecoder } from './otlp-decoder.js';
import { Utf8Value } from './otlp-types.js';
import type {
  OtlpAnyValue, OtlpKeyValue, OtlpLogRecord, OtlpLogsRequest, OtlpResource, OtlpSpan, OtlpSpanEvent, OtlpTracesRequest,
} from './otlp-types.js';
import { everyKey, firstByteBit, has, keyFilter, type KeyFilter } from './attribute-key-filter.js';
import { cachedUtf8, I32, I64, LEN, VARINT, WireError, WireReader, type WireCounter } from './proto-wire.js';

/** Span events kept per span: flag evaluations past this many on one span are ignored. */
export const MAX_SPAN_EVENTS = 128;

/** protobufjs' default nesting limit, so both refuse the same depths. */
const MAX_DEPTH = 100;

function wrongType(r: WireReader, field: number, wt: number): never {
  return r.fail(`field ${field} has wire type ${wt}`);
}

/** Reads one tag; returns [field, wireType] packed as field * 8 + wireType (the tag itself). */
function tag(r: WireReader, end: number): number {
  const p = r.pos;
  if (p < end) {
    const b = r.buf[p];
    if (b < 128) {
      r.pos = p + 1;
      return b;
    }
  }
  return r.uint32(end);
}

function anyValue(r: WireReader, end: number, depth: number): OtlpAnyValue {
  if (depth > MAX_DEPTH) r.fail('maximum nesting depth exceeded');
  const v: OtlpAnyValue = {};
  while (r.pos < end) {
    const t = tag(r, end);
    const f = t >>> 3;
    const wt = t & 7;
    switch (f) {
      case 1: if (wt !== LEN) wrongType(r, f, wt); v.stringValue = r.string(end); break;
      case 2: if (wt !== VARINT) wrongType(r, f, wt); v.boolValue = r.blindUint32(end) !== 0; break;
      case 3: if (wt !== VARINT) wrongType(r, f, wt); v.intValue = r.int64(end); break;
      case 4: if (wt !== I64) wrongType(r, f, wt); v.doubleValue = r.double(end); break;
      case 5:
        if (wt !== LEN) wrongType(r, f, wt);
        v.arrayValue = { values: repeatedMessages(r, r.delimited(end), (rr, e) => anyValue(rr, e, depth + 2)) };
        break;
      case 6:
        if (wt !== LEN) wrongType(r, f, wt);
        v.kvlistValue = { values: repeatedMessages(r, r.delimited(end), (rr, e) => keyValue(rr, e, depth + 2)) };
        break;
      case 7: if (wt !== LEN) wrongType(r, f, wt); v.bytesValue = r.bytes(end); break;
      default: r.skip(wt, end);
    }
  }
  return v;
}

/** ArrayValue / KeyValueList: a message whose only field, 1, repeats a message. */
function repeatedMessages<T>(r: WireReader, end: number, read: (r: WireReader, end: number) => T): T[] {
  const out: T[] = [];
  while (r.pos < end) {
    const t = tag(r, end);
    if (t >>> 3 === 1) {
      if ((t & 7) !== LEN) wrongType(r, 1, t & 7);
      const stop = r.delimited(end);
      r.counter.attribute();
      out.push(read(r, stop));
      r.pos = stop;
    } else r.skip(t & 7, end);
  }
  return out;
}

function keyValue(r: WireReader, end: number, depth: number): OtlpKeyValue {
  if (depth > MAX_DEPTH) r.fail('maximum nesting depth exceeded');
  const kv: OtlpKeyValue = { key: '', value: null };
  while (r.pos < end) {
    const t = tag(r, end);
    const f = t >>> 3;
    const wt = t & 7;
    if (f === 1) {
      if (wt !== LEN) wrongType(r, f, wt);
      kv.key = r.string(end);
    } else if (f === 2) {
      if (wt !== LEN) wrongType(r, f, wt);
      const stop = r.delimited(end);
      kv.value = anyValue(r, stop, depth + 1);
    } else r.skip(wt, end);
  }
  return kv;
}

/** Keys the mapper reads a user id from, in the order it tries them. */
const USER_ID_KEYS = ['feature_flag.context.id', 'enduser.id', 'user.id'] as const;

/**
 * User ids are nearly all distinct, so the short-string cache would miss on each and, worse,
 * evict the few names, features and variants every span repeats: they are left as bytes
 * (Utf8Value), which the pseudonymiser looks up without decoding them.
 */
function isUserIdKey(key: string): boolean {
  return key === USER_ID_KEYS[0] || key === USER_ID_KEYS[1] || key === USER_ID_KEYS[2];
}

/**
 * A KeyValue whose key passes the filter, else undefined. The key is matched on its bytes, so
 * the keys and values nobody reads are never decoded (only their framing is checked).
 */
function filteredKeyValue(r: WireReader, end: number, depth: number, wanted: KeyFilter, list: readonly OtlpKeyValue[]): OtlpKeyValue | undefined {
  const buf = r.buf;
  const p = r.pos;
  // The layout every encoder writes, [0x0a len key][0x12 len value] with one-byte lengths and
  // nothing else, is recognised without calls or looking inside the value; anything else (long
  // keys or values, repeated or extra fields) takes the general path below.
  if (buf[p] === 0x0a) {
    const keyStart = p + 2;
    const keyEnd = keyStart + buf[p + 1];
    if (buf[p + 1] < 128 && keyEnd <= end) {
      const valueLength = buf[keyEnd + 1];
      if (keyEnd === end || (buf[keyEnd] === 0x12 && valueLength < 128 && keyEnd + 2 + valueLength === end)) {
        r.pos = end;
        const key = wanted(buf, keyStart, keyEnd);
        if (key === undefined || has(list, key)) return undefined;
        if (keyEnd === end) return { key, value: null };
        // A string value, [0x0a len bytes] filling the value, the form of every key the mapper
        // reads but numeric user ids: read here instead of through anyValue's field loop.
        const textLength = buf[keyEnd + 3];
        if (buf[keyEnd + 2] === 0x0a && textLength < 128 && keyEnd + 4 + textLength === end && depth < MAX_DEPTH) {
          if (isUserIdKey(key)) return { key, value: new Utf8Value(buf, keyEnd + 4, end) };
          return { key, value: { stringValue: cachedUtf8(buf, keyEnd + 4, end) } };
        }
        r.pos = keyEnd + 2;
        return { key, value: anyValue(r, end, depth + 1) };
      }
    }
  }
  let keyStart = 0;
  let keyEnd = 0;
  let valueStart = -1;
  let valueEnd = -1;
  while (r.pos < end) {
    const t = tag(r, end);
    const f = t >>> 3;
    const wt = t & 7;
    if (f === 1 || f === 2) {
      if (wt !== LEN) wrongType(r, f, wt);
      const stop = r.delimited(end);
      if (f === 1) {
        keyStart = r.pos;
        keyEnd = stop;
      } else {
        valueStart = r.pos;
        valueEnd = stop;
      }
      r.pos = stop;
    } else r.skip(wt, end);
  }
  const key = wanted(buf, keyStart, keyEnd);
  if (key === undefined || has(list, key)) return undefined;
  if (valueStart < 0) return { key, value: null };
  r.pos = valueStart;
  const value = anyValue(r, valueEnd, depth + 1);
  r.pos = end;
  return { key, value };
}

/**
 * The attribute field just tagged, and the run of attributes after it under the same one-byte tag
 * (`tagByte`): encoders write a list's attributes one after another, so they are walked in one
 * loop and counted against the request's caps once per run instead of once each.
 */
function attributes(r: WireReader, end: number, into: OtlpKeyValue[] | undefined, wanted: KeyFilter, depth: number, tagByte: number): OtlpKeyValue[] {
  const buf = r.buf;
  const list = into ?? [];
  const all = wanted === everyKey;
  const prefilter = wanted.prefilter;
  let n = 0;
  for (;;) {
    const stop = r.delimited(end);
    n++;
    // filteredKeyValue's usual layout, [0x0a len key][0x12 len value], with a key length and first
    // byte no wanted key has: passed over here, framing checked the same way, without a call or a
    // key comparison. (The first byte is read before the key is known to lie within the attribute;
    // then the framing test below fails and the attribute takes the general path anyway.)
    const p = r.pos;
    const keyLength = buf[p + 1];
    const keyEnd = p + 2 + keyLength;
    const valueLength = buf[keyEnd + 1];
    const unwanted = buf[p] === 0x0a && keyLength < 128 && (prefilter[keyLength] & firstByteBit(buf[p + 2])) === 0 && keyEnd <= stop
      && (keyEnd === stop || (buf[keyEnd] === 0x12 && valueLength < 128 && keyEnd + 2 + valueLength === stop));
    if (!unwanted) {
      const kv = all ? keyValue(r, stop, depth) : filteredKeyValue(r, stop, depth, wanted, list);
      if (kv) list.push(kv);
    }
    r.pos = stop;
    if (stop >= end || buf[stop] !== tagByte) break;
    r.pos = stop + 1;
  }
  r.counter.attribute(n);
  return list;
}

function resource(r: WireReader, end: number, wanted: KeyFilter, depth: number): OtlpResource {
  const res: OtlpResource = { attributes: [] };
  while (r.pos < end) {
    const t = tag(r, end);
    const f = t >>> 3;
    const wt = t & 7;
    if (f === 1) {
      if (wt !== LEN) wrongType(r, f, wt);
      res.attributes = attributes(r, end, res.attributes, wanted, depth + 1, 0x0a);
    } else if (f === 2) {
      if (wt !== VARINT) wrongType(r, f, wt);
      r.blindUint32(end);
    } else {
      if (f === 3 && wt !== LEN) wrongType(r, f, wt);
      r.skip(wt, end);
    }
  }
  return res;
}

function spanEvent(r: WireReader, end: number, wanted: KeyFilter, depth: number): OtlpSpanEvent {
  const e: OtlpSpanEvent = { timeUnixNano: undefined, name: undefined, attributes: undefined };
  while (r.pos < end) {
    const t = tag(r, end);
    const f = t >>> 3;
    const wt = t & 7;
    switch (f) {
      case 1: if (wt !== I64) wrongType(r, f, wt); e.timeUnixNano = r.fixed64(end); break;
      case 2: if (wt !== LEN) wrongType(r, f, wt); e.name = r.string(end); break;
      case 3: if (wt !== LEN) wrongType(r, f, wt); e.attributes = attributes(r, end, e.attributes, wanted, depth + 1, 0x1a); break;
      case 4: if (wt !== VARINT) wrongType(r, f, wt); r.blindUint32(end); break;
      default: r.skip(wt, end);
    }
  }
  return e;
}

function span(r: WireReader, end: number, wanted: KeyFilter, depth: number): OtlpSpan {
  const s: OtlpSpan = {
    traceId: undefined, spanId: undefined, name: undefined, startTimeUnixNano: undefined, endTimeUnixNano: undefined,
    attributes: undefined, events: undefined,
  };
  while (r.pos < end) {
    const t = tag(r, end);
    const f = t >>> 3;
    const wt = t & 7;
    switch (f) {
      case 1: if (wt !== LEN) wrongType(r, f, wt); s.traceId = r.view(end); break;
      case 2: if (wt !== LEN) wrongType(r, f, wt); s.spanId = r.view(end); break;
      case 5: if (wt !== LEN) wrongType(r, f, wt); s.name = r.string(end); break;
      case 7: if (wt !== I64) wrongType(r, f, wt); s.startTimeUnixNano = r.fixed64(end); break;
      case 8: if (wt !== I64) wrongType(r, f, wt); s.endTimeUnixNano = r.fixed64(end); break;
      case 9: if (wt !== LEN) wrongType(r, f, wt); s.attributes = attributes(r, end, s.attributes, wanted, depth + 1, 0x4a); break;
      case 11: {
        if (wt !== LEN) wrongType(r, f, wt);
        const stop = r.delimited(end);
        r.counter.attribute();
        // Past MAX_SPAN_EVENTS the events are walked (framing checked) but not kept.
        if ((s.events?.length ?? 0) < MAX_SPAN_EVENTS) (s.events ??= []).push(spanEvent(r, stop, wanted, depth + 1));
        else r.pos = stop;
        break;
      }
      // Fields mapping never reads, checked for the wire type each must have.
      case 6: case 10: case 12: case 14: if (wt !== VARINT) wrongType(r, f, wt); r.blindUint32(end); break;
      case 3: case 4: case 13: case 15: if (wt !== LEN) wrongType(r, f, wt); r.pos = r.delimited(end); break;
      case 16: if (wt !== I32) wrongType(r, f, wt); r.skip(wt, end); break;
      default: r.skip(wt, end);
    }
  }
  return s;
}

function logRecord(r: WireReader, end: number, depth: number): OtlpLogRecord {
  const rec: OtlpLogRecord = {};
  while (r.pos < end) {
    const t = tag(r, end);
    const f = t >>> 3;
    const wt = t & 7;
    switch (f) {
      case 1: if (wt !== I64) wrongType(r, f, wt); rec.timeUnixNano = r.fixed64(end); break;
      case 11: if (wt !== I64) wrongType(r, f, wt); rec.observedTimeUnixNano = r.fixed64(end); break;
      case 2: if (wt !== VARINT) wrongType(r, f, wt); rec.severityNumber = r.blindUint32(end) | 0; break;
      case 3: if (wt !== LEN) wrongType(r, f, wt); rec.severityText = r.string(end); break;
      case 5: {
        if (wt !== LEN) wrongType(r, f, wt);
        const stop = r.delimited(end);
        rec.body = anyValue(r, stop, depth + 1);
        break;
      }
      case 6: if (wt !== LEN) wrongType(r, f, wt); rec.attributes = attributes(r, end, rec.attributes, everyKey, depth + 1, 0x32); break;
      case 7: if (wt !== VARINT) wrongType(r, f, wt); r.blindUint32(end); break;
      case 8: if (wt !== I32) wrongType(r, f, wt); r.skip(wt, end); break;
      case 9: if (wt !== LEN) wrongType(r, f, wt); rec.traceId = r.bytes(end); break;
      case 10: if (wt !== LEN) wrongType(r, f, wt); rec.spanId = r.bytes(end); break;
      case 12: if (wt !== LEN) wrongType(r, f, wt); rec.eventName = r.string(end); break;
      default: r.skip(wt, end);
    }
  }
  return rec;
}

/**
 * ResourceSpans / ResourceLogs and their Scope* children share one shape: resource = 1,
 * scope items = 2 (each holding scope = 1, records = 2), schema_url = 3.
 */
function resourceGroup<T>(
  r: WireReader, end: number, wanted: KeyFilter,
  record: (r: WireReader, end: number, depth: number) => T,
): { resource: OtlpResource | null; scopes: T[][] } {
  let res: OtlpResource | null = null;
  const scopes: T[][] = [];
  while (r.pos < end) {
    const t = tag(r, end);
    const f = t >>> 3;
    const wt = t & 7;
    if (f === 1) {
      if (wt !== LEN) wrongType(r, f, wt);
      const stop = r.delimited(end);
      res = resource(r, stop, wanted, 2);
    } else if (f === 2) {
      if (wt !== LEN) wrongType(r, f, wt);
      const stop = r.delimited(end);
      const records: T[] = [];
      while (r.pos < stop) {
        const t2 = tag(r, stop);
        const f2 = t2 >>> 3;
        const wt2 = t2 & 7;
        if (f2 === 2) {
          if (wt2 !== LEN) wrongType(r, f2, wt2);
          const s = r.delimited(stop);
          r.counter.record();
          records.push(record(r, s, 3));
          r.pos = s;
        } else {
          if ((f2 === 1 || f2 === 3) && wt2 !== LEN) wrongType(r, f2, wt2);
          r.skip(wt2, stop);
        }
      }
      scopes.push(records);
    } else {
      if (f === 3 && wt !== LEN) wrongType(r, f, wt);
      r.skip(wt, end);
    }
  }
  return { resource: res, scopes };
}

function topLevel<T>(body: Uint8Array, what: string, counter: WireCounter | undefined, each: (r: WireReader, end: number) => T): T[] {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const r = new WireReader(buf, counter);
  try {
    // The request is, like ArrayValue, a message whose field 1 repeats its resource groups.
    return repeatedMessages(r, buf.length, each);
  } catch (err) {
    if (err instanceof WireError || err instanceof RangeError) {
      throw new PmfError('ERR_OTLP_DECODE', `malformed ${what}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** Attribute keys the mapper reads on spans and resources, besides the rules' activation keys. */
export const MAPPED_SPAN_KEYS = [
  'feature_flag.key', 'feature_flag.result.variant', 'feature_flag.variant',
  ...USER_ID_KEYS,
  // The resource's service identity names the event's origin, which holds the watermark per sender.
  'service.name', 'service.instance.id',
] as const;

export function createScannerDecoder(attributeKeys: Iterable<string> = []): OtlpDecoder {
  const wanted = keyFilter([...MAPPED_SPAN_KEYS, ...attributeKeys]);
  return {
    decodeTraces(body, counter): OtlpTracesRequest {
      return {
        resourceSpans: topLevel(body, 'ExportTraceServiceRequest', counter, (r, end) => {
          const g = resourceGroup(r, end, wanted, (rr, e, d) => span(rr, e, wanted, d));
          return { resource: g.resource, scopeSpans: g.scopes.map((spans) => ({ spans })) };
        }),
      };
    },
    decodeLogs(body, counter): OtlpLogsRequest {
      return {
        resourceLogs: topLevel(body, 'ExportLogsServiceRequest', counter, (r, end) => {
          const g = resourceGroup(r, end, wanted, logRecord);
          return { resource: g.resource, scopeLogs: g.scopes.map((logRecords) => ({ logRecords })) };
        }),
      };
    },
  };
}
