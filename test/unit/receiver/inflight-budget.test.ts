import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
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

  it('makes acquire() wait in arrival order, charges growth to the reservation first, and gives the unused rest back on trim', async () => {
    const clock = new ManualClock(0);
    const b = new InFlightBudget(100, clock);
    const held = (await b.acquire(80, 0))!;
    expect([held.bytes, held.used]).toEqual([80, 0]);
    const order: string[] = [];
    const big = b.acquire(60, 1000).then((l) => { order.push('big'); return l; });
    const small = b.acquire(10, 1000).then((l) => { order.push('small'); return l; });
    // 10 bytes would fit, but a waiter is ahead: nobody jumps the queue, not even tryAcquire.
    expect(b.tryAcquire(5)).toBeUndefined();
    expect(b.waiting).toBe(2);
    expect(held.grow(30)).toBe(true);
    expect(b.inUse).toBe(80);
    held.trim();
    const bigLease = await big;
    expect(bigLease?.bytes).toBe(60);
    expect((await small)?.bytes).toBe(10);
    expect(order).toEqual(['big', 'small']);
    expect(b.inUse).toBe(100);
    expect(held.grow(5)).toBe(false);
    expect([held.bytes, held.used]).toEqual([30, 30]);
    held.release();
    bigLease!.release();
    expect(b.inUse).toBe(10);
  });

  it('refuses an acquire() whose wait ends, one larger than the bound, and one with no wait, counting each', async () => {
    const clock = new ManualClock(0);
    const b = new InFlightBudget(100, clock);
    const held = b.tryAcquire(90)!;
    const timedOut = b.acquire(50, 500);
    clock.advance(500);
    expect(await timedOut).toBeUndefined();
    expect(b.waiting).toBe(0);
    expect(await b.acquire(101, 500)).toBeUndefined();
    expect(await b.acquire(20, 0)).toBeUndefined();
    expect(b.refused).toBe(3);
    held.release();
    expect(b.inUse).toBe(0);
    expect((await b.acquire(100, 0))?.bytes).toBe(100);
  });

  it('lets a lease wait in the same queue to grow, and gives late bytes back when it was released meanwhile', async () => {
    const clock = new ManualClock(0);
    const b = new InFlightBudget(100, clock);
    const other = b.tryAcquire(90)!;
    const lease = b.tryAcquire(0)!;
    expect(await lease.growOrWait(10, 0)).toBe(true);
    const grown = lease.growOrWait(50, 1000);
    const queued = b.acquire(30, 1000);
    other.release();
    expect(await grown).toBe(true);
    expect([lease.bytes, lease.used]).toEqual([60, 60]);
    expect((await queued)?.bytes).toBe(30);
    const late = lease.growOrWait(20, 1000);
    lease.release();
    (await b.acquire(0, 0))!.release();
    expect(b.inUse).toBe(30);
    clock.advance(1000);
    expect(await late).toBe(false);
    expect(b.inUse).toBe(30);
  });

  it('refuses a non-positive bound', () => {
    expect(() => new InFlightBudget(0)).toThrow(RangeError);
  });
});
