import { describe, expect, it } from 'vitest';
import { VerdictHistory } from '../../../src/verdict/verdict-history.js';
import { verdict } from '../../helpers/verdict-fixture.js';


describe('verdict history', () => {
  it('keeps the last N points per cohort, oldest first, and the latest verdict', () => {
    const h = new VerdictHistory(3);
    for (let i = 0; i < 5; i++) h.add(verdict({ id: `v${i}`, at: i * 60_000, n: i }));
    const [c] = h.list('f');
    expect(c.points.map((p) => p.at)).toEqual([120_000, 180_000, 240_000]);
    expect(c.points.map((p) => p.metrics.activation.n)).toEqual([2, 3, 4]);
    expect(c.latest.verdictId).toBe('v4');
  });

  it('ignores a verdict seen before, and keeps points in event-time order when the watermark steps back', () => {
    const h = new VerdictHistory(10);
    h.add(verdict({ id: 'a', at: 60_000 }));
    h.add(verdict({ id: 'a', at: 60_000 }));
    h.add(verdict({ id: 'back', at: 0, outcome: 'fail' }));
    const [c] = h.list();
    expect(c.points.map((p) => p.at)).toEqual([0, 60_000]);
    expect(c.latest.verdictId).toBe('back');
  });

  it('remembers the last change of outcome and its reason', () => {
    const h = new VerdictHistory(10);
    h.add(verdict({ id: 'p', at: 0 }));
    h.add(verdict({ id: 'f', at: 60_000, outcome: 'fail', reason: 'fail: latency' }));
    h.add(verdict({ id: 'f2', at: 120_000, outcome: 'fail', reason: 'fail: latency (heartbeat)' }));
    const [c] = h.list();
    expect(c.lastChange.verdictId).toBe('f');
    expect(c.latest.verdictId).toBe('f2');
  });

  it('lists features and cohorts sorted, and filters', () => {
    const h = new VerdictHistory(2);
    h.add(verdict({ id: '1', at: 0, feature: 'b', cohort: 'x' }));
    h.add(verdict({ id: '2', at: 0, feature: 'a', cohort: 'y' }));
    h.add(verdict({ id: '3', at: 0, feature: 'a', cohort: 'x' }));
    expect(h.features()).toEqual(['a', 'b']);
    expect(h.list().map((c) => `${c.feature}/${c.cohort}`)).toEqual(['a/x', 'a/y', 'b/x']);
    expect(h.latest('a', 'y').map((v) => v.verdictId)).toEqual(['2']);
  });

  it('forgets the oldest ids past 2 × points × cohorts, also after thousands of them', () => {
    // One cohort, 2 points: the last 4 ids are remembered.
    const h = new VerdictHistory(2);
    for (let i = 0; i < 3000; i++) h.add(verdict({ id: `v${i}`, at: i * 60_000, n: i }));
    h.add(verdict({ id: 'v2997', at: 0, outcome: 'fail' })); // remembered: ignored
    expect(h.get('f', 'treatment')?.latest.verdictId).toBe('v2999');
    h.add(verdict({ id: 'v2995', at: 3000 * 60_000, outcome: 'fail' })); // forgotten: taken as new
    expect(h.get('f', 'treatment')?.latest.verdictId).toBe('v2995');
    expect(h.get('f', 'treatment')?.points.map((p) => p.at)).toEqual([2999 * 60_000, 3000 * 60_000]);
  });

  it('gets one cohort without listing', () => {
    const h = new VerdictHistory(2);
    h.add(verdict({ id: '1', at: 0, feature: 'b', cohort: 'x' }));
    expect(h.get('b', 'x')?.latest.verdictId).toBe('1');
    expect(h.get('b', 'y')).toBeUndefined();
    expect(h.get('a', 'x')).toBeUndefined();
  });

  it('refuses a size that cannot hold a point', () => {
    expect(() => new VerdictHistory(0)).toThrow(RangeError);
  });
});
