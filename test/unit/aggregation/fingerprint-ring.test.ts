// The fingerprint FIFO against an array model: push / shift / find with repeated fingerprints,
// clustered fingerprints (many equal low bits, long probe runs), growth and wrap-around; and the
// dedupe window built on it keeps its rule with out-of-order times and a full cap.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteReader, ByteWriter } from '../../../src/core/byte-codec.js';
import { DedupeWindow } from '../../../src/aggregation/dedupe-window.js';
import { FingerprintRing } from '../../../src/aggregation/fingerprint-ring.js';
import { hash64, hashString64 } from '../../../src/aggregation/id-hash.js';
import { mulberry32 } from './random-data.js';

describe('FingerprintRing', () => {
  it('agrees with an array model', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 3000 }), fc.boolean(), (seed, max, clustered) => {
        const rand = mulberry32(seed);
        const ring = new FingerprintRing(true, max, 0.5, 4);
        const model: { lo: number; hi: number; t: number }[] = [];
        const pool = 1 + Math.floor(rand() * 500);
        for (let i = 0; i < 5000; i++) {
          const k = Math.floor(rand() * pool);
          // clustered: low 12 bits equal for everything, so the index probes long runs
          const lo = clustered ? (k << 12) | 0x5a5 : Math.imul(k + 1, 0x9e3779b1);
          const hi = k ^ 0x1234;
          if (rand() < 0.6) {
            if (model.length >= max) {
              ring.shift();
              model.shift();
            }
            ring.push(lo, hi, i);
            model.push({ lo, hi, t: i });
          } else if (rand() < 0.5) {
            ring.shift();
            model.shift();
          }
          const slot = ring.find(lo, hi);
          const newest = [...model].reverse().find((m) => m.lo === lo && m.hi === hi);
          if (newest === undefined) expect(slot).toBe(-1);
          else expect(ring.timeAt(slot)).toBe(newest.t);
        }
        expect(ring.size).toBe(model.length);
        const order: number[] = [];
        ring.forEach((_lo, _hi, t) => order.push(t));
        expect(order).toEqual(model.map((m) => m.t));
      }),
      { numRuns: 60 },
    );
  });

  it('spreads ids: no collision among 1,000,000 distinct trace/span ids', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1_000_000; i++) {
      hashString64(`${i.toString(16).padStart(32, '0')}${(i * 7).toString(16).padStart(16, '0')}`);
      seen.add(`${hash64.lo}:${hash64.hi}`);
    }
    expect(seen.size).toBe(1_000_000);
  });
});

describe('DedupeWindow', () => {
  it('matches only ids whose time is above the horizon, also out of order, and survives a round trip', () => {
    const d = new DedupeWindow(1000);
    const add = (id: string, t: number) => {
      expect(d.has(id)).toBe(false);
      d.add(t);
    };
    add('late', 50); // arrives first, older than the next
    add('a', 100);
    add('b', 200);
    d.advance(60); // 'late' is at or below the horizon; it is the oldest arrival, so it goes
    expect(d.size).toBe(2);
    add('c', 70); // out of order: behind 'b' in arrival order
    d.advance(150); // 'a' goes; 'c' (70) waits behind 'b' but no longer matches
    expect(d.has('c')).toBe(false);
    expect(d.has('b')).toBe(true);
    expect(d.has('a')).toBe(false);
    const w = new ByteWriter();
    d.write(w);
    const back = DedupeWindow.read(new ByteReader(w.finish(), 'test'), 1000);
    expect(back.horizon).toBe(150);
    expect(back.has('b')).toBe(true);
    expect(back.has('c')).toBe(false);
  });

  it('raises the horizon to the time of an id the cap forgets', () => {
    const d = new DedupeWindow(2);
    for (const [id, t] of [['x', 10], ['y', 30], ['z', 20]] as const) {
      expect(d.has(id)).toBe(false);
      d.add(t);
    }
    expect(d.horizon).toBe(10);
    expect(d.evictedByCap).toBe(1);
    expect(d.has('y')).toBe(true);
    expect(d.has('z')).toBe(true);
  });
});
