// The dedupe id of a log record. Log records have no id of their own, so the id is a digest of
// what the record says: two records of one span get different ids, a resent record keeps its id.
// It is computed from the decoded fields in a canonical form (not from the wire bytes), so the
// protobufjs decoder, the lazy scanner and the JSON decoder give the same id for the same record.

import { createHash } from 'node:crypto';
import { signedIntText } from './otlp-attributes.js';
import type { OtlpAnyValue, OtlpKeyValue, OtlpLogRecord } from './otlp-types.js';
import { hasStringValue, nanosOf } from './otlp-types.js';

type Canon = null | string | boolean | Canon[];

// protobufjs leaves an absent bytes field as an empty array on the prototype, not a Uint8Array.
const hex = (b: Uint8Array | undefined): string => (b && b.length > 0 ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') : '');

function canonValue(v: OtlpAnyValue | null | undefined, depth: number): Canon {
  if (!v || depth > 64) return null;
  if (hasStringValue(v)) return ['s', v.stringValue ?? ''];
  if (Object.hasOwn(v, 'boolValue')) return ['b', v.boolValue === true];
  if (Object.hasOwn(v, 'intValue')) return ['i', signedIntText(v.intValue) ?? '0'];
  if (Object.hasOwn(v, 'doubleValue')) return ['d', String(v.doubleValue)];
  if (Object.hasOwn(v, 'arrayValue')) return ['a', (v.arrayValue?.values ?? []).map((x) => canonValue(x, depth + 1))];
  if (Object.hasOwn(v, 'kvlistValue')) return ['k', canonAttributes(v.kvlistValue?.values, depth + 1)];
  if (Object.hasOwn(v, 'bytesValue')) return ['y', hex(v.bytesValue)];
  return null;
}

function canonAttributes(attrs: readonly OtlpKeyValue[] | undefined, depth: number): Canon {
  return (attrs ?? []).map((kv) => [kv.key, canonValue(kv.value, depth)]);
}

/** 16 hex characters of SHA-256 over the pseudonymous user and the record's canonical content. */
export function logRecordDigest(user: string, r: OtlpLogRecord): string {
  const canon: Canon = [
    nanosOf(r.timeUnixNano).toString(),
    nanosOf(r.observedTimeUnixNano).toString(),
    r.eventName ?? '',
    String(r.severityNumber ?? 0),
    r.severityText ?? '',
    canonValue(r.body, 0),
    canonAttributes(r.attributes, 0),
    hex(r.traceId),
    hex(r.spanId),
  ];
  return createHash('sha256').update(user).update('\u0000').update(JSON.stringify(canon)).digest('hex').slice(0, 16);
}
