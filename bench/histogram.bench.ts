// LatencyHistogram record / percentile / merge / serialize, against hdr-histogram-js (JS, 64-bit
// counts, same settings) as the in-process baseline. Run: npx tsx bench/histogram.bench.ts
// Targets: record ≤ 50 ns, serialized ≤ 10 KB. The last line is one JSON object.

import { measureHistogram } from './histogram-measure.js';

console.log(JSON.stringify({ node: process.version, ...measureHistogram() }));
