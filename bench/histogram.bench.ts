// LatencyHistogram record / percentile / merge / serialize, against hdr-histogram-js (JS, 64-bit
// counts, same settings) as the in-process baseline. Run: npx tsx bench/histogram.bench.ts
// Targets (DESIGN §7): record ≤ 50 ns, serialized ≤ 10 KB, merge ≤ 50 µs.

import * as hdr from 'hdr-histogram-js';
import { LatencyHistogram } from '../src/aggregation/latency-histogram.js';

const N = 5_000_000;
const ROUNDS = 5;

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

function best(fn: () => void): number {
  let min = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    const dt = Number(process.hrtime.bigint() - t0);
    if (dt < min) min = dt;
  }
  return min;
}

const values = lognormalValues(N, 1);
const settings = { lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, significantDigits: 2 };

let sink = 0;
const oursNs =
  best(() => {
    const h = new LatencyHistogram(settings);
    for (let i = 0; i < N; i++) h.record(values[i]);
    sink += h.count;
  }) / N;
const hdrNs =
  best(() => {
    const h = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 3_600_000,
      numberOfSignificantValueDigits: 2,
      bitBucketSize: 64,
      autoResize: false,
      useWebAssembly: false,
    });
    for (let i = 0; i < N; i++) h.recordValue(values[i]);
    sink += h.totalCount;
  }) / N;

const a = new LatencyHistogram(settings);
const b = new LatencyHistogram(settings);
for (let i = 0; i < 1_000_000; i++) a.record(values[i]);
for (let i = 1_000_000; i < 2_000_000; i++) b.record(values[i]);
const mergeUs =
  best(() => {
    for (let k = 0; k < 1000; k++) {
      const c = new LatencyHistogram(settings);
      c.merge(a);
      c.merge(b);
      sink += c.count;
    }
  }) / 2000 / 1000;
const p95Us =
  best(() => {
    for (let k = 0; k < 1000; k++) sink += a.valueAtPercentile(95);
  }) / 1000 / 1000;
const bytes = a.serialize();
const serializeUs =
  best(() => {
    for (let k = 0; k < 1000; k++) sink += a.serialize().length;
  }) / 1000 / 1000;
const deserializeUs =
  best(() => {
    for (let k = 0; k < 1000; k++) sink += LatencyHistogram.deserialize(bytes).count;
  }) / 1000 / 1000;

console.log(
  JSON.stringify(
    {
      node: process.version,
      values: 'lognormal(median 150 ms, sigma 1), 5M records, best of 5',
      recordNs: +oursNs.toFixed(2),
      hdrHistogramJsRecordNs: +hdrNs.toFixed(2),
      speedupVsHdrJs: +(hdrNs / oursNs).toFixed(2),
      mergeUs: +mergeUs.toFixed(2),
      p95Us: +p95Us.toFixed(2),
      serializedBytes1M: bytes.length,
      base64Chars1M: a.toBase64().length,
      serializeUs: +serializeUs.toFixed(2),
      deserializeUs: +deserializeUs.toFixed(2),
      sink: sink > 0,
    },
    null,
    2,
  ),
);
