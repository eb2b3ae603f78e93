// Sticky, deterministic bucketing of users into a cohort's allocation, and the Redis hash fields
// that carry it. The bucket is MurmurHash3 (x86, 32-bit, seed 0) of the UTF-8 bytes of
// "<feature>:<salt>:<user id>", scaled to [0, 10000): the same hash flagd's `fractional` uses,
// so any language with a murmur3 library gets the same answer (docs/rollouts.md has vectors).
// A user is in the allocation when bucket < percent × 100. The set of buckets below a threshold
// only grows with the threshold, so raising a percentage never removes a user.

import { fmix32 } from '../aggregation/id-hash.js';
import { ALLOCATION_FIELD, CONTROL_FIELD, SALT_FIELD } from '../flags/redis-keys.js';

export const BUCKET_COUNT = 10_000;

const encoder = new TextEncoder();

/** MurmurHash3 x86 32-bit, as an unsigned integer. */
export function murmur3(bytes: Uint8Array, seed = 0): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const blocks = bytes.length >>> 2;
  for (let i = 0; i < blocks; i++) {
    const j = i << 2;
    let k = bytes[j] | (bytes[j + 1] << 8) | (bytes[j + 2] << 16) | (bytes[j + 3] << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = blocks << 2;
  let k1 = 0;
  switch (bytes.length & 3) {
    case 3:
      k1 ^= bytes[tail + 2] << 16;
    // falls through
    case 2:
      k1 ^= bytes[tail + 1] << 8;
    // falls through
    case 1:
      k1 ^= bytes[tail];
      k1 = Math.imul(k1, c1);
      k1 = (k1 << 15) | (k1 >>> 17);
      k1 = Math.imul(k1, c2);
      h ^= k1;
  }
  return fmix32(h ^ bytes.length);
}

/** The user's bucket in [0, 10000) for a feature and salt. */
export function bucketOf(feature: string, salt: string, userId: string): number {
  const hash = murmur3(encoder.encode(`${feature}:${salt}:${userId}`));
  // hash × 10000 < 2^46: exact in a double, so every language computes the same floor.
  return Math.floor((hash * BUCKET_COUNT) / 2 ** 32);
}

/** Whether a bucket falls inside an allocation given in percent (two decimals at most). */
export function inAllocation(bucket: number, percent: number): boolean {
  return bucket < Math.round(percent * 100);
}

/** One cohort's rollout as the flag hash carries it. */
export interface CohortAllocation {
  percent: number;
  salt: string;
  /** The cohort users outside the allocation are served (and recorded as). */
  control: string;
}

/** Splits a flag hash into cohort states and allocations; unknown or malformed fields are ignored. */
export function parseFlagHash(hash: Record<string, string>): { cohorts: Record<string, string>; allocations: Record<string, CohortAllocation> } {
  const cohorts: Record<string, string> = {};
  const allocations: Record<string, CohortAllocation> = {};
  for (const [field, value] of Object.entries(hash)) {
    if (field === 'version' || field.startsWith(SALT_FIELD) || field.startsWith(CONTROL_FIELD)) continue;
    if (field.startsWith(ALLOCATION_FIELD)) {
      const cohort = field.slice(ALLOCATION_FIELD.length);
      const percent = Number(value);
      const control = hash[`${CONTROL_FIELD}${cohort}`];
      // Without a control to serve instead, an allocation cannot be honoured: the cohort is served as a whole.
      if (value !== '' && Number.isFinite(percent) && percent >= 0 && percent <= 100 && control) {
        allocations[cohort] = { percent, salt: hash[`${SALT_FIELD}${cohort}`] ?? '', control };
      }
      continue;
    }
    cohorts[field] = value;
  }
  return { cohorts, allocations };
}
