// The deadline queue (a 4-ary heap with coarse keys) against a sort: whatever the order of pushes,
// and with tops whose windows mature and re-sift, the queue hands out states in (deadline,
// handle) order, ties of the coarse key and of the exact deadline included.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DeadlineQueue } from '../../../src/aggregation/deadline-queue.js';
import { ACTIVATION_DONE, EARLY_REACHED, RETENTION_DONE, UserStateStore } from '../../../src/aggregation/user-state-store.js';

const HOUR = 3_600_000;
/** Feature 0: activation 24 h, retention 7 d, early landmark 8 h; feature 1: 2 h / 3 h, none. */
const ACTIVATION = Float64Array.of(24 * HOUR, 2 * HOUR);
const RETENTION = Float64Array.of(7 * 24 * HOUR, 3 * HOUR);
const EARLY = Float64Array.of(8 * HOUR, Number.POSITIVE_INFINITY);
const GRACE = 60_000;

/** Drains the queue as maturation does: a top whose deadline is a window's end is marked and re-sifted, others popped. */
function drain(store: UserStateStore, q: DeadlineQueue): number[][] {
  const order: number[][] = [];
  for (let h = q.peek(); h !== -1; h = q.peek()) {
    const due = q.due(h);
    order.push([due, h]);
    const fe = store.firstExposure(h);
    const f = store.feature(h);
    if ((store.earlyFlags(h) & EARLY_REACHED) === 0 && fe + EARLY[f] === due) store.setEarlyFlag(h, EARLY_REACHED);
    else if ((store.flags(h) & ACTIVATION_DONE) === 0 && fe + ACTIVATION[f] === due) store.setFlag(h, ACTIVATION_DONE);
    else if ((store.flags(h) & RETENTION_DONE) === 0 && fe + RETENTION[f] === due) store.setFlag(h, RETENTION_DONE);
    else {
      q.pop();
      continue;
    }
    q.topChanged();
  }
  return order;
}

/** Every deadline of every state, in (deadline, handle) order: what drain must give. */
function expected(store: UserStateStore, handles: number[]): number[][] {
  const all: number[][] = [];
  for (const h of handles) {
    const fe = store.firstExposure(h);
    const f = store.feature(h);
    const a = fe + ACTIVATION[f];
    const r = fe + RETENTION[f];
    const ends = [a, r];
    if (EARLY[f] !== Number.POSITIVE_INFINITY) ends.push(fe + EARLY[f]);
    // Equal ends mature together (one re-sift marks one of them; the next top is the same state).
    for (const e of ends.sort((x, y) => x - y)) all.push([e, h]);
    all.push([Math.max(a, r) + GRACE, h]);
  }
  return all.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}

describe('DeadlineQueue', () => {
  it('hands out every deadline in (deadline, handle) order, whatever the push order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ fe: fc.integer({ min: 0, max: 40 }), fine: fc.integer({ min: 0, max: 3 }), feature: fc.integer({ min: 0, max: 1 }) }), { minLength: 1, maxLength: 300 }),
        fc.integer(),
        (states, seed) => {
          const store = new UserStateStore(1000);
          const q = new DeadlineQueue(store, GRACE);
          q.setWindows(ACTIVATION, RETENTION, EARLY);
          const handles: number[] = [];
          states.forEach((s, i) => {
            store.select(i.toString(16).padStart(32, '0'));
            // Exposures on a coarse grid (many equal deadlines) plus a few ms (equal coarse keys, different deadlines).
            handles.push(store.add(s.feature, 0, 1_700_000_000_000 + s.fe * 30 * 60_000 + s.fine));
          });
          // Push in a shuffled order: the layout differs, the order handed out must not.
          const order = [...handles];
          let x = seed >>> 0;
          for (let i = order.length - 1; i > 0; i--) {
            x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
            const j = x % (i + 1);
            [order[i], order[j]] = [order[j], order[i]];
          }
          for (const h of order) q.push(h);
          expect(drain(store, q)).toEqual(expected(store, handles));
          expect(q.size).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('does not queue a state of a feature without windows (frozen)', () => {
    const store = new UserStateStore(10);
    const q = new DeadlineQueue(store, GRACE);
    q.setWindows(Float64Array.of(Number.POSITIVE_INFINITY), Float64Array.of(Number.POSITIVE_INFINITY), Float64Array.of(Number.POSITIVE_INFINITY));
    store.select('0'.repeat(32));
    q.push(store.add(0, 0, 1_700_000_000_000));
    expect(q.size).toBe(0);
    expect(q.peek()).toBe(-1);
  });
});
