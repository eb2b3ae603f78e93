// Attribute key matching for the lazy scanner: keys are compared on their bytes, so attributes the
// mapper never reads are skipped without decoding a string.

import type { OtlpKeyValue } from './otlp-types.js';
import { utf8 } from './proto-wire.js';

/** The key's string when the key bytes at [start, end) are one the mapper reads, else undefined. */
export interface KeyFilter {
  (buf: Buffer, start: number, end: number): string | undefined;
  /**
   * Indexed by a key's byte length below 128: a mask with bit (first byte & 31) set for each
   * wanted key of that length (every bit for the empty key). When a key's bit is clear no wanted key
   * can match it, so the scanner passes over the attribute without comparing its key at all: most
   * unwanted keys share a length with some wanted key (http.route and enduser.id), few also share
   * the first byte.
   */
  readonly prefilter: Int32Array;
}

/** Lengths of a one-byte length prefix, the ones the scanner's fast path reads. */
const SHORT = 128;

export function keyFilter(keys: Iterable<string>): KeyFilter {
  const byLength: { bytes: Buffer; key: string }[][] = [];
  const prefilter = new Int32Array(SHORT);
  for (const key of new Set(keys)) {
    const bytes = Buffer.from(key, 'utf8');
    (byLength[bytes.length] ??= []).push({ bytes, key });
    if (bytes.length < SHORT) prefilter[bytes.length] |= bytes.length === 0 ? -1 : firstByteBit(bytes[0]);
  }
  const filter = (buf: Buffer, start: number, end: number): string | undefined => {
    const candidates = byLength[end - start];
    if (candidates === undefined) return undefined;
    for (let k = 0; k < candidates.length; k++) {
      const b = candidates[k].bytes;
      let i = 0;
      while (i < b.length && buf[start + i] === b[i]) i++;
      if (i === b.length) return candidates[k].key;
    }
    return undefined;
  };
  return Object.assign(filter, { prefilter });
}

export const everyKey: KeyFilter = Object.assign(
  (buf: Buffer, start: number, end: number): string | undefined => utf8(buf, start, end),
  { prefilter: new Int32Array(SHORT).fill(-1) },
);

/** A key's bit in a KeyFilter's prefilter mask. */
export function firstByteBit(firstByte: number): number {
  return 1 << (firstByte & 31);
}

/**
 * Mapping reads the first attribute of a key in a list, so later ones with the same key are not
 * decoded: an attribute flood of one key the mapper reads costs a walk, not an object each.
 */
export function has(list: readonly OtlpKeyValue[], key: string): boolean {
  for (let i = 0; i < list.length; i++) if (list[i].key === key) return true;
  return false;
}
