import { describe, expect, it } from 'vitest';
import { InFlightBudget } from '../../../src/receiver/transport/inflight-budget.js';

describe('InFlightBudget', () => {
  it('admits leases up to the bound, grows them chunk by chunk, and frees them once', () => {
    const b = new InFlightBudget(100);
    const a = b.tryAcquire(60)!;
    expect(b.tryAcquire(41)).toBeUndefined();
    const c = b.tryAcquire(0)!;
    expect(c.grow(30)).toBe(true);
    expect(c.grow(11)).toBe(false);
    expect(c.bytes).toBe(30);
    expect(b.inUse).toBe(90);
    a.release();
    a.release();
    expect(b.inUse).toBe(30);
    expect(a.grow(1)).toBe(false);
    c.release();
    expect(b.inUse).toBe(0);
    expect(b.peak).toBe(90);
    expect(b.refused).toBe(2);
  });

  it('refuses a non-positive bound', () => {
    expect(() => new InFlightBudget(0)).toThrow(RangeError);
  });
});
