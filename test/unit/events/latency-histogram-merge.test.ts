// mergeSerialized must be merge(deserialize(bytes)) exactly: the same counts, percentiles, min,
// max, clamped count and serialized form, the same error for a bad form, and no change on one.

import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../../src/events/latency-histogram.js';
import { mulberry32 } from '../../helpers/prng.js';

function random(seed: number, n: number, settings = {}): LatencyHistogram {
  const rand = mulberry32(seed);
  const h = new LatencyHistogram(settings);
  for (let i = 0; i < n; i++) h.record(rand() < 0.01 ? 5_000_000 : Math.floor(Math.exp(rand() * 9)));
  return h;
}

describe('LatencyHistogram.mergeSerialized', () => {
  it('equals merge(deserialize(bytes)), whatever the sizes', () => {
    for (const [a, b] of [[0, 500], [300, 0], [200, 3000], [5000, 40]]) {
      const viaObject = random(1, a);
      const viaBytes = random(1, a);
      const other = random(2, b);
      viaObject.merge(LatencyHistogram.deserialize(other.serialize()));
      viaBytes.mergeSerialized(other.serialize());
      expect(viaBytes.serialize()).toEqual(viaObject.serialize());
      expect([viaBytes.count, viaBytes.clampedCount, viaBytes.min, viaBytes.max, viaBytes.valueAtPercentile(95), viaBytes.countAbove(200)])
        .toEqual([viaObject.count, viaObject.clampedCount, viaObject.min, viaObject.max, viaObject.valueAtPercentile(95), viaObject.countAbove(200)]);
    }
  });

  it('fails like deserialize or merge on a bad form, and changes nothing', () => {
    const h = random(3, 100);
    const before = h.toBase64();
    const good = random(4, 100).serialize();
    const errorOf = (f: () => void) => {
      try {
        f();
      } catch (err) {
        return [(err as { code?: string }).code, (err as Error).message];
      }
      return undefined;
    };
    const bad = [
      Buffer.concat([good.subarray(0, good.length - 1), Buffer.from([0])]), // a zero count
      good.subarray(0, good.length - 2), // truncated
      Buffer.concat([good, Buffer.from([1])]), // trailing byte
      Buffer.from([9]), // unknown version
      random(5, 10, { significantDigits: 3 }).serialize(), // other settings
    ];
    for (const bytes of bad) {
      const want = errorOf(() => h.merge(LatencyHistogram.deserialize(bytes)));
      expect(want).toBeDefined();
      expect(errorOf(() => h.mergeSerialized(bytes))).toEqual(want);
      expect(h.toBase64()).toBe(before);
    }
  });
});
