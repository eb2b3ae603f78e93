// LatencyHistogram against hdr-histogram-js (pure JS, 64-bit counts, the same settings) on the same
// values in the same process: record ns, P95 equality, merge / percentile / (de)serialize cost and
// serialized sizes (realistic data, and the worst case: every bucket up to one hour non-empty).
// Used by bench/histogram.bench.ts and bench/aggregator.bench.ts.

import * as hdr from 'hdr-histogram-js';
import { LatencyHistogram } from '../src/events/latency-histogram.js';

export interface HistogramFigures {
  values: string;
  recordNs: number;
  hdrHistogramJsRecordNs: number;
  recordSpeedupVsHdrJs: number;
  p95: number;
  hdrHistogramJsP95: number;
  mergeUs: number;
  p95Us: number;
  serializeUs: number;
  deserializeUs: number;
  serializedBytes1MLognormal: number;
  serializedBytesWorstCase: number;
}

function lognormalValues(n: number, seed: number): Float64Array {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    out[i] = Math.ceil(Math.exp(Math.log(150) + 1.0 * z));
  }
  return out;
}

function best(rounds: number, fn: () => void): number {
  let min = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    const dt = Number(process.hrtime.bigint() - t0);
    if (dt < min) min = dt;
  }
  return min;
}

export function measureHistogram(n = 5_000_000, rounds = 5): HistogramFigures {
  const values = lognormalValues(n, 1);
  const settings = { lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, significantDigits: 2 };
  const buildHdr = () =>
    hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 3_600_000,
      numberOfSignificantValueDigits: 2,
      bitBucketSize: 64,
      autoResize: false,
      useWebAssembly: false,
    });
  let sink = 0;
  // Alternate the two so neither profits from running second (warm caches, JIT state).
  let ours = Infinity;
  let theirs = Infinity;
  for (let r = 0; r < rounds; r++) {
    ours = Math.min(
      ours,
      best(1, () => {
        const h = new LatencyHistogram(settings);
        for (let i = 0; i < n; i++) h.record(values[i]);
        sink += h.count;
      }),
    );
    theirs = Math.min(
      theirs,
      best(1, () => {
        const h = buildHdr();
        for (let i = 0; i < n; i++) h.recordValue(values[i]);
        sink += h.totalCount;
      }),
    );
  }

  const a = new LatencyHistogram(settings);
  const b = new LatencyHistogram(settings);
  const ref = buildHdr();
  for (let i = 0; i < 1_000_000; i++) {
    a.record(values[i]);
    ref.recordValue(values[i]);
  }
  for (let i = 1_000_000; i < 2_000_000; i++) b.record(values[i]);
  const mergeUs = best(rounds, () => {
    for (let k = 0; k < 1000; k++) {
      const c = new LatencyHistogram(settings);
      c.merge(a);
      c.merge(b);
      sink += c.count;
    }
  }) / 2000 / 1000;
  const p95Us = best(rounds, () => {
    for (let k = 0; k < 1000; k++) sink += a.valueAtPercentile(95);
  }) / 1000 / 1000;
  const bytes = a.serialize();
  const serializeUs = best(rounds, () => {
    for (let k = 0; k < 1000; k++) sink += a.serialize().length;
  }) / 1000 / 1000;
  const deserializeUs = best(rounds, () => {
    for (let k = 0; k < 1000; k++) sink += LatencyHistogram.deserialize(bytes).count;
  }) / 1000 / 1000;

  // Worst case for the size budget: every bucket of the layout up to one hour non-empty, with
  // counts in the thousands (two-byte varints).
  const worst = new LatencyHistogram(settings);
  for (let v = 1; v <= 3_600_000; v = Math.max(v + 1, Math.floor(v * 1.003))) worst.record(v, 1000 + (v % 7000));
  if (sink === 0) throw new Error('nothing measured');
  return {
    values: `lognormal(median 150 ms, sigma 1), ${n} records, best of ${rounds}`,
    recordNs: +(ours / n).toFixed(2),
    hdrHistogramJsRecordNs: +(theirs / n).toFixed(2),
    recordSpeedupVsHdrJs: +(theirs / ours).toFixed(2),
    p95: a.valueAtPercentile(95),
    hdrHistogramJsP95: ref.getValueAtPercentile(95),
    mergeUs: +mergeUs.toFixed(2),
    p95Us: +p95Us.toFixed(2),
    serializeUs: +serializeUs.toFixed(2),
    deserializeUs: +deserializeUs.toFixed(2),
    serializedBytes1MLognormal: bytes.length,
    serializedBytesWorstCase: worst.serialize().length,
  };
}
