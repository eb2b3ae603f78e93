import { describe, expect, it } from 'vitest';
import { FLAG_CHANGE_CHANNEL as FLAG_CHANNEL, flagChannel, flagKey } from '../../../src/flags/redis-keys.js';

describe('Redis flag names', () => {
  it('follow the contract (docs/contract.md)', () => {
    expect(flagKey('feat_smart_recs_v1')).toBe('pmf:flag:{feat_smart_recs_v1}');
    expect(flagChannel()).toBe('pmf:flags:changed');
    expect(FLAG_CHANNEL).toBe('pmf:flags:changed');
  });

  it('put a test prefix in front without moving the hash tag', () => {
    const key = flagKey('f', 't1:');
    expect(key).toBe('t1:pmf:flag:{f}');
    expect(key.slice(key.indexOf('{') + 1, key.indexOf('}'))).toBe('f');
    expect(flagChannel('t1:')).toBe('t1:pmf:flags:changed');
  });
});
