import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../../src/core/retry-backoff.js';

describe('retryDelayMs', () => {
  it('doubles from the initial delay and stops at the cap', () => {
    const backoff = { initialMs: 200, maxMs: 1000 };
    expect([1, 2, 3, 4, 5, 100].map((n) => retryDelayMs(n, backoff))).toEqual([200, 400, 800, 1000, 1000, 1000]);
  });
});
