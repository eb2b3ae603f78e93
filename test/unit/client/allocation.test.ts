import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf, inAllocation, murmur3, parseFlagHash } from '../../../src/client/allocation.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('bucketing', () => {
  it('is MurmurHash3 x86 32-bit: the published reference vectors', () => {
    expect(murmur3(utf8(''), 0)).toBe(0);
    expect(murmur3(utf8(''), 1)).toBe(0x514e28b7);
    expect(murmur3(utf8('hello'), 0)).toBe(0x248bfa47);
    expect(murmur3(utf8('Hello, world!'), 0)).toBe(0xc0363e43);
    expect(murmur3(utf8('The quick brown fox jumps over the lazy dog'), 0)).toBe(0x2e4ff723);
  });

  // The vectors of docs/rollouts.md, computed by an independent Python implementation.
  it.each([
    ['feat_smart_recs_v1', '', 'user-1', 0xc739ffdc, 7782],
    ['feat_smart_recs_v1', '', 'user-2', 0x4c281665, 2974],
    ['feat_smart_recs_v1', '', 'alice', 0xa2de5a09, 6362],
    ['feat_smart_recs_v1', '2026-12', 'bob', 0x0d9aa4b9, 531],
    ['feat_smart_recs_v1', '2026-12', '42', 0xd0a95942, 8150],
    ['checkout', '', 'ünïcode-用户', 0x16a1a6b9, 884],
  ])('bucket of (%s, %j, %s)', (feature, salt, user, hash, bucket) => {
    expect(murmur3(utf8(`${feature}:${salt}:${user}`))).toBe(hash);
    expect(bucketOf(feature, salt, user)).toBe(bucket);
  });

  it('a user is in the allocation when the bucket is below percent × 100', () => {
    expect(inAllocation(884, 8.84)).toBe(false);
    expect(inAllocation(884, 8.85)).toBe(true);
    expect(inAllocation(0, 0)).toBe(false);
    expect(inAllocation(9999, 100)).toBe(true);
  });

  it('raising a percentage never removes a user (property)', () => {
    const percent = fc.integer({ min: 0, max: 10_000 }).map((bp) => bp / 100);
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), percent, percent, (feature, salt, user, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        const bucket = bucketOf(feature, salt, user);
        expect(bucket).toBeGreaterThanOrEqual(0);
        expect(bucket).toBeLessThan(10_000);
        if (inAllocation(bucket, low)) expect(inAllocation(bucket, high)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('spreads users evenly: 10 % of 20 000 users land within binomial noise of 2 000', () => {
    let inside = 0;
    for (let i = 0; i < 20_000; i++) if (inAllocation(bucketOf('feat', '', `user-${i}`), 10)) inside++;
    // sd = sqrt(20000 · 0.1 · 0.9) ≈ 42; 6 sd either side.
    expect(Math.abs(inside - 2000)).toBeLessThan(255);
  });

  it('a salt draws an independent population', () => {
    let both = 0;
    for (let i = 0; i < 20_000; i++) {
      if (inAllocation(bucketOf('feat', 'a', `u${i}`), 50) && inAllocation(bucketOf('feat', 'b', `u${i}`), 50)) both++;
    }
    expect(Math.abs(both - 5000)).toBeLessThan(400);
  });
});

describe('flag hash fields', () => {
  it('separates cohort states from allocation fields, ignoring an allocation without a control', () => {
    const parsed = parseFlagHash({
      version: '7',
      treatment: 'on',
      'allocation:treatment': '10',
      'salt:treatment': 's1',
      'control:treatment': 'control',
      beta: 'off',
      'allocation:beta': '5',
      gamma: 'on',
      'allocation:gamma': 'lots',
      'control:gamma': 'control',
    });
    expect(parsed.cohorts).toEqual({ treatment: 'on', beta: 'off', gamma: 'on' });
    expect(parsed.allocations).toEqual({ treatment: { percent: 10, salt: 's1', control: 'control' } });
  });
});

describe('reserved cohort names', () => {
  it('the rules refuse exactly the prefixes the Redis contract uses for rollout fields', async () => {
    const { ALLOCATION_FIELD, CONTROL_FIELD, SALT_FIELD } = await import('../../../src/flags/redis-keys.js');
    const { RESERVED_COHORT_PREFIXES } = await import('../../../src/rules/rollout-schema.js');
    expect([...RESERVED_COHORT_PREFIXES]).toEqual([ALLOCATION_FIELD, SALT_FIELD, CONTROL_FIELD]);
  });
});
