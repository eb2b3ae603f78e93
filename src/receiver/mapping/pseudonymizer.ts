// Keyed HMAC-SHA256 of raw user ids (docs/contract.md): the same user always maps to the same
// pseudonym under one key, and without the key a pseudonym cannot be tied back to a person.
// Raw ids enter here and only the pseudonym leaves.
//
// Key rotation: the receiver holds a key ring, newest first. New pseudonyms always use the
// newest key. A pseudonym is a function of the key, so rotating starts a new pseudonym space:
// a user seen after the switch is a new user to the aggregator (first exposure and cohort are
// fixed again, activation/retention windows restart), and a user whose events straddle the
// switch counts once under each key. Rotate between evaluations, or accept that running ones
// restart. Older keys stay in the ring only so pseudonymsOf() can find everything stored about
// a person under any key still within Kafka / state retention (erasure and access requests);
// drop a key once that data has expired.

import { createHmac } from 'node:crypto';
import { PmfError } from '../../core/errors.js';
import { murmur2 } from '../../log/key-partition.js';
import { Utf8KeyTable } from './utf8-key-table.js';

/**
 * A pseudonym with what the receiver's hot path needs of it, worked out once per cached user: its
 * 16 bytes (what an event record carries) and the Kafka key hash of its text (which partition the
 * user's events go to).
 */
export interface Pseudonym {
  readonly text: string;
  readonly bytes: Uint8Array;
  /** murmur2(utf8(text)), as the key partitioner computes it. */
  readonly keyHash: number;
}

export const PSEUDONYM_HEX_LENGTH = 32;
const PSEUDONYM_BYTES = PSEUDONYM_HEX_LENGTH / 2;
const SLAB_ENTRIES = 4096;
const MIN_KEY_BYTES = 16;
/** Distinct raw ids whose pseudonym is remembered; HMAC costs more than decoding a span. */
const DEFAULT_CACHE_ENTRIES = 50_000;

type Key = string | Uint8Array;

function keyBytes(key: Key): Buffer {
  const b = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
  if (b.length < MIN_KEY_BYTES) {
    throw new PmfError('ERR_CONFIG_INVALID', `pseudonymisation key must be at least ${MIN_KEY_BYTES} bytes`);
  }
  return b;
}

/** A key ring written as text: one key per line, newest first (blank lines ignored). */
export function parseKeyRing(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
}

export class Pseudonymizer {
  private readonly keys: Buffer[];
  private readonly cache = new Map<string, Pseudonym>();
  /** The same pseudonyms found by the raw id's UTF-8 bytes (the receiver's path: no string per span). */
  private readonly byUtf8: Utf8KeyTable<Pseudonym>;
  private slab = Buffer.allocUnsafeSlow(0);
  private slabUsed = 0;

  /** One key, or a ring with the current key first. */
  constructor(keys: Key | readonly Key[], private readonly cacheEntries = DEFAULT_CACHE_ENTRIES) {
    const ring = Array.isArray(keys) ? (keys as readonly Key[]) : [keys as Key];
    if (ring.length === 0) throw new PmfError('ERR_CONFIG_INVALID', 'the pseudonymisation key ring is empty');
    this.keys = ring.map(keyBytes);
    this.byUtf8 = new Utf8KeyTable(cacheEntries);
  }

  get keyCount(): number {
    return this.keys.length;
  }

  pseudonymize(rawUserId: string): string {
    return this.pseudonym(rawUserId).text;
  }

  /** The pseudonym with its bytes and key hash (cached: the same object for the same raw id). */
  pseudonym(rawUserId: string): Pseudonym {
    const hit = this.cache.get(rawUserId);
    if (hit !== undefined) return hit;
    const p = this.make(rawUserId);
    // Dropping everything at the cap keeps the bound trivial; a hot set refills in one pass.
    if (this.cache.size >= this.cacheEntries) this.cache.clear();
    this.cache.set(rawUserId, p);
    return p;
  }

  /**
   * The pseudonym of the raw id whose UTF-8 bytes are buf[start, end), found by those bytes: the
   * same as pseudonym(the decoded text), invalid sequences decoded to U+FFFD as Buffer#toString does.
   */
  pseudonymOfUtf8(buf: Uint8Array, start: number, end: number): Pseudonym {
    const hit = this.byUtf8.get(buf, start, end);
    if (hit !== undefined) return hit;
    const p = this.make(Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('utf8'));
    this.byUtf8.set(buf, start, end, p);
    return p;
  }

  private make(rawUserId: string): Pseudonym {
    const digest = createHmac('sha256', this.keys[0]).update(rawUserId, 'utf8').digest();
    const bytes = this.slabBytes();
    digest.copy(bytes, 0, 0, PSEUDONYM_BYTES);
    const text = bytes.toString('hex');
    return { text, bytes, keyHash: murmur2(Buffer.from(text, 'latin1')) };
  }

  /**
   * 16 bytes for a new entry, cut from a shared slab: the hot path copies every event's pseudonym
   * bytes, and reading them from one contiguous block costs fewer cache misses than from a separate
   * allocation per user. Entries dropped from the cache keep their slab alive until they are gone.
   */
  private slabBytes(): Buffer {
    if (this.slabUsed + PSEUDONYM_BYTES > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_ENTRIES * PSEUDONYM_BYTES);
      this.slabUsed = 0;
    }
    const out = this.slab.subarray(this.slabUsed, this.slabUsed + PSEUDONYM_BYTES);
    this.slabUsed += PSEUDONYM_BYTES;
    return out;
  }

  /** The user's pseudonym under every key in the ring, current first. */
  pseudonymsOf(rawUserId: string): string[] {
    return this.keys.map((k) => hmac(k, rawUserId));
  }

  /** Bound function returning the text. */
  readonly fn = (rawUserId: string): string => this.pseudonymize(rawUserId);

  /** Bound function for MapperOptions.pseudonymize: the receiver's path, bytes and key hash included. */
  readonly entryFn = (rawUserId: string): Pseudonym => this.pseudonym(rawUserId);

  /** Bound function for MapperOptions.pseudonymizeUtf8. */
  readonly utf8Fn = (buf: Uint8Array, start: number, end: number): Pseudonym => this.pseudonymOfUtf8(buf, start, end);
}

function hmac(key: Buffer, raw: string): string {
  return createHmac('sha256', key).update(raw, 'utf8').digest('hex').slice(0, PSEUDONYM_HEX_LENGTH);
}
