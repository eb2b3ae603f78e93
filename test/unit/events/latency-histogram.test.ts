import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as hdr from 'hdr-histogram-js';
import { LatencyHistogram, type LatencyHistogramSettings } from '../../../src/events/latency-histogram.js';
import { PmfError } from '../../../src/core/errors.js';
import { latencies, mulberry32, normal, type DataShape } from '../aggregation/random-data.js';

// p × 10 so the nearest-rank oracle is computed in exact integer arithmetic.
const PERCENTILES_X10 = [0, 10, 500, 900, 950, 990, 999, 1000];
const SIZES = [1, 2, 19, 20, 21, 10_000];
const SHAPES: DataShape[] = ['lognormal', 'ties', 'single', 'uniform', 'wide'];

const SETTINGS: LatencyHistogramSettings[] = [
  { lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, significantDigits: 2 },
  { lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, significantDigits: 3 },
  { lowestDiscernibleValue: 1, highestTrackableValue: 10_000, significantDigits: 1 },
  { lowestDiscernibleValue: 1, highestTrackableValue: 0xffff_ffff, significantDigits: 2 },
  { lowestDiscernibleValue: 3, highestTrackableValue: 100_000, significantDigits: 2 },
  { lowestDiscernibleValue: 16, highestTrackableValue: 3_600_000, significantDigits: 0 },
];

function buildHdr(s: LatencyHistogramSettings) {
  return hdr.build({
    lowestDiscernibleValue: s.lowestDiscernibleValue,
    highestTrackableValue: s.highestTrackableValue,
    numberOfSignificantValueDigits: s.significantDigits as 1 | 2 | 3 | 4 | 5,
    bitBucketSize: 64,
    autoResize: false,
    useWebAssembly: false,
  });
}

function ours(values: readonly number[], s?: Partial<LatencyHistogramSettings>): LatencyHistogram {
  const h = new LatencyHistogram(s);
  for (const v of values) h.record(v);
  return h;
}

const dataArb = fc.record({
  seed: fc.integer(),
  n: fc.constantFrom(...SIZES),
  shape: fc.constantFrom(...SHAPES),
  settings: fc.constantFrom(...SETTINGS),
});

describe('LatencyHistogram vs hdr-histogram-js', () => {
  it('valueAtPercentile equals getValueAtPercentile for the same values and settings', () => {
    fc.assert(
      fc.property(dataArb, ({ seed, n, shape, settings }) => {
        const values = latencies(shape, n, seed, settings.highestTrackableValue);
        const ref = buildHdr(settings);
        for (const v of values) ref.recordValue(v);
        const h = ours(values, settings);
        for (const p10 of PERCENTILES_X10) {
          expect(h.valueAtPercentile(p10 / 10), `p${p10 / 10}`).toBe(ref.getValueAtPercentile(p10 / 10));
        }
        expect(h.mean).toBe(ref.mean);
        expect(h.count).toBe(ref.totalCount);
      }),
      { numRuns: 150 },
    );
  });

  it('matches on arbitrary small integer arrays too (shrinkable counterexamples)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 100_000 }), { minLength: 1, maxLength: 60 }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (values, p) => {
          const settings = SETTINGS[0];
          const ref = buildHdr(settings);
          for (const v of values) ref.recordValue(v);
          expect(ours(values, settings).valueAtPercentile(p)).toBe(ref.getValueAtPercentile(p));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('bucket helpers equal hdr-histogram-js', () => {
    for (const s of SETTINGS) {
      // The equivalence helpers live on JsHistogram, not on the Histogram interface build() returns.
      const ref = buildHdr(s) as unknown as hdr.JsHistogram;
      const h = new LatencyHistogram(s);
      const rand = mulberry32(7);
      for (let i = 0; i < 2000; i++) {
        const v = Math.floor(Math.exp(rand() * Math.log(s.highestTrackableValue)));
        expect(h.lowestEquivalentValue(v)).toBe(ref.lowestEquivalentValue(v));
        expect(h.highestEquivalentValue(v)).toBe(ref.highestEquivalentValue(v));
      }
    }
  });
});

describe('LatencyHistogram semantics', () => {
  it('P_p is the top of the bucket holding the nearest-rank value (p > 0) and within 10^-d relative', () => {
    fc.assert(
      fc.property(dataArb, ({ seed, n, shape }) => {
        const settings = SETTINGS[0];
        const values = latencies(shape, n, seed, settings.highestTrackableValue);
        const sorted = [...values].sort((a, b) => a - b);
        const h = ours(values, settings);
        for (const p10 of PERCENTILES_X10) {
          if (p10 === 0) {
            expect(h.valueAtPercentile(0)).toBe(h.lowestEquivalentValue(sorted[0]));
            continue;
          }
          const rank = Math.max(Math.ceil((p10 * n) / 1000), 1);
          const exact = sorted[rank - 1];
          const got = h.valueAtPercentile(p10 / 10);
          expect(got).toBe(h.highestEquivalentValue(exact));
          if (exact > 0) {
            const rel = (got - exact) / exact;
            expect(rel).toBeGreaterThanOrEqual(0);
            expect(rel).toBeLessThan(10 ** -settings.significantDigits);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('merge equals one histogram built from the concatenated data', () => {
    fc.assert(
      fc.property(dataArb, fc.integer(), ({ seed, n, shape, settings }, seed2) => {
        const a = latencies(shape, n, seed, settings.highestTrackableValue);
        const b = latencies('lognormal', (seed2 >>> 0) % 300, seed2, settings.highestTrackableValue);
        const merged = ours(a, settings);
        merged.merge(ours(b, settings));
        const whole = ours([...a, ...b], settings);
        for (const p10 of PERCENTILES_X10) expect(merged.valueAtPercentile(p10 / 10)).toBe(whole.valueAtPercentile(p10 / 10));
        expect(merged.count).toBe(whole.count);
        expect(merged.min).toBe(whole.min);
        expect(merged.max).toBe(whole.max);
        expect(merged.serialize().equals(whole.serialize())).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('serialization round-trips exactly', () => {
    fc.assert(
      fc.property(dataArb, ({ seed, n, shape, settings }) => {
        const h = ours(latencies(shape, n, seed, settings.highestTrackableValue), settings);
        h.record(settings.highestTrackableValue + 5); // one clamped value survives the trip too
        const bytes = h.serialize();
        const back = LatencyHistogram.deserialize(bytes);
        expect(back.settings).toEqual(h.settings);
        expect(back.count).toBe(h.count);
        expect(back.clampedCount).toBe(1);
        expect(back.min).toBe(h.min);
        expect(back.max).toBe(h.max);
        expect(back.mean).toBe(h.mean);
        for (const p10 of PERCENTILES_X10) expect(back.valueAtPercentile(p10 / 10)).toBe(h.valueAtPercentile(p10 / 10));
        expect(back.serialize().equals(bytes)).toBe(true);
        expect(LatencyHistogram.fromBase64(h.toBase64()).serialize().equals(bytes)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('countAbove is exact on bucket tops and a lower bound elsewhere', () => {
    fc.assert(
      fc.property(dataArb, fc.nat({ max: 20_000 }), ({ seed, n, shape }, t) => {
        const values = latencies(shape, n, seed, 3_600_000);
        const h = ours(values);
        const top = h.highestEquivalentValue(t);
        expect(h.isBucketTop(top)).toBe(true);
        expect(h.countAbove(top)).toBe(values.filter((v) => v > top).length);
        const exact = values.filter((v) => v > t).length;
        const got = h.countAbove(t);
        expect(got).toBeLessThanOrEqual(exact);
        expect(exact - got).toBe(values.filter((v) => v > t && v <= top).length);
      }),
      { numRuns: 150 },
    );
    const h = ours([0, 5, 10]);
    expect(h.countAbove(-1)).toBe(3);
    expect(h.countAbove(3_600_000)).toBe(0);
    expect(h.countAbove(4.5)).toBe(2); // values are integers: > 4.5 means >= 5
  });

  it('rounds fractional durations up and clamps values above the highest trackable value', () => {
    const h = new LatencyHistogram({ highestTrackableValue: 1000 });
    h.record(0.2);
    h.record(0);
    h.record(-0);
    h.record(999.01);
    h.record(5000, 3);
    expect(h.count).toBe(7);
    expect(h.clampedCount).toBe(3);
    expect(h.min).toBe(0);
    expect(h.max).toBe(1000);
    expect(h.valueAtPercentile(40)).toBe(1); // 0, 0, 1, 1000(=ceil 999.01), 1000 ×3
    expect(h.countAbove(999)).toBe(4);
  });

  it('empty histogram', () => {
    const h = new LatencyHistogram();
    expect(h.count).toBe(0);
    expect(h.valueAtPercentile(95)).toBe(0);
    expect(h.mean).toBe(0);
    expect(Number.isNaN(h.min)).toBe(true);
    expect(h.countAbove(0)).toBe(0);
    expect(LatencyHistogram.deserialize(h.serialize()).count).toBe(0);
    expect(h.serialize().length).toBeLessThan(16);
  });

  it('record(value, count) equals count single records', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    a.record(321, 5);
    for (let i = 0; i < 5; i++) b.record(321);
    expect(a.serialize().equals(b.serialize())).toBe(true);
  });

  it('serializes 1M lognormal latencies in well under 10 KB', () => {
    const rand = mulberry32(42);
    const h = new LatencyHistogram();
    for (let i = 0; i < 1_000_000; i++) h.record(Math.exp(Math.log(150) + 1.2 * normal(rand)));
    const size = h.serialize().length;
    expect(h.count).toBe(1_000_000);
    expect(size).toBeLessThanOrEqual(10 * 1024);
    expect(h.toBase64().length).toBeLessThanOrEqual(Math.ceil((size * 4) / 3) + 4);
  });

  it('refuses invalid settings, values, merges and corrupt bytes with PmfError', () => {
    expect(() => new LatencyHistogram({ lowestDiscernibleValue: 0 })).toThrow(PmfError);
    expect(() => new LatencyHistogram({ highestTrackableValue: 1 })).toThrow(PmfError);
    expect(() => new LatencyHistogram({ significantDigits: 6 })).toThrow(PmfError);
    expect(() => new LatencyHistogram({ highestTrackableValue: 2 ** 33 })).toThrow(PmfError);
    const h = new LatencyHistogram();
    expect(() => h.record(-1)).toThrow(PmfError);
    expect(() => h.record(Number.NaN)).toThrow(PmfError);
    expect(() => h.record(Number.POSITIVE_INFINITY)).toThrow(PmfError);
    expect(() => h.record(5, 0)).toThrow(PmfError);
    expect(() => h.record(5, 1.5)).toThrow(PmfError);
    expect(() => h.valueAtPercentile(-1)).toThrow(PmfError);
    expect(h.count).toBe(0);
    expect(() => h.merge(new LatencyHistogram({ significantDigits: 3 }))).toThrow(PmfError);

    h.record(100);
    h.record(200);
    const bytes = h.serialize();
    const corrupt = (b: Uint8Array) => {
      try {
        LatencyHistogram.deserialize(b);
        return 'accepted';
      } catch (err) {
        return (err as PmfError).code;
      }
    };
    expect(corrupt(bytes.subarray(0, bytes.length - 1))).toBe('ERR_STATE_CORRUPT');
    expect(corrupt(Buffer.concat([bytes, Buffer.from([0])]))).toBe('ERR_STATE_CORRUPT');
    expect(corrupt(Buffer.from([9, 1, 2, 2, 0]))).toBe('ERR_STATE_CORRUPT');
    expect(corrupt(Buffer.from([1, 1, 1, 2, 0]))).toBe('ERR_STATE_CORRUPT'); // highest < 2 × lowest
  });
});
