// Attribute look-ups on decoded OTLP key/value lists. Absent, empty and non-scalar values all
// read as "not there"; callers that care about wrong types use attributeKind.

import type { OtlpAnyValue, OtlpKeyValue } from './otlp-types.js';
import { hasStringValue, nanosOf, type NanoTime } from './otlp-types.js';

export type AttributeKind = 'absent' | 'string' | 'int' | 'other';

/** The value of the first attribute named `key` (absent and null values alike undefined). */
export function attributeValue(attrs: readonly OtlpKeyValue[] | undefined, key: string): OtlpAnyValue | undefined {
  if (!attrs) return undefined;
  for (const kv of attrs) if (kv.key === key) return kv.value ?? undefined;
  return undefined;
}

export function attributeKind(attrs: readonly OtlpKeyValue[] | undefined, key: string): AttributeKind {
  const v = attributeValue(attrs, key);
  if (!v) return 'absent';
  if (hasStringValue(v)) return v.stringValue === '' ? 'absent' : 'string';
  if (Object.hasOwn(v, 'intValue')) return 'int';
  return Object.keys(v).length === 0 ? 'absent' : 'other';
}

/** A non-empty string attribute, else undefined. */
export function stringAttribute(attrs: readonly OtlpKeyValue[] | undefined, key: string): string | undefined {
  const v = attributeValue(attrs, key);
  if (!v || !hasStringValue(v)) return undefined;
  return v.stringValue === '' ? undefined : v.stringValue;
}

/** A string or integer attribute as text (user ids are sometimes numeric). */
export function idAttribute(attrs: readonly OtlpKeyValue[] | undefined, key: string): string | undefined {
  const v = attributeValue(attrs, key);
  return v ? idText(v) : undefined;
}

/** A string or integer value as text, else undefined (so is an empty string). */
export function idText(v: OtlpAnyValue): string | undefined {
  if (hasStringValue(v)) return v.stringValue === '' ? undefined : v.stringValue;
  if (Object.hasOwn(v, 'intValue')) return signedIntText(v.intValue);
  return undefined;
}

/** An int64 attribute value as signed decimal text, whatever form the decoder gave it. */
export function signedIntText(raw: unknown): string | undefined {
  if (raw === null || raw === undefined) return undefined;
  if (typeof raw === 'bigint') return BigInt.asIntN(64, raw).toString();
  if (typeof raw === 'object' && 'low' in raw && 'high' in raw) {
    const u = nanosOf(raw as NanoTime);
    return BigInt.asIntN(64, u).toString();
  }
  return String(raw);
}
