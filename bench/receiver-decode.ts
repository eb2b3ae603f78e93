// `npm run bench:receiver-decode`: CPU per span of the receiver's protobuf decode + map path alone
// (no gRPC, no Kafka), over the request bytes bench:receiver sends, mapped into the batcher the
// receiver writes records with. In-run baseline: the same mapping after a full protobufjs decode
// (the reference decoder). Alternating rounds on the same bytes, medians of PMF_BENCH_ROUNDS (9)
// rounds of 400 ms CPU each; the mapping part (the same in both) is also timed alone, over
// requests decoded beforehand, so the decoder's own share can be read off. The last line printed
// is one JSON object with every figure.

import { loadavg } from 'node:os';
import { createProtobufDecoder } from '../src/receiver/decode/otlp-decoder.js';
import { createScannerDecoder } from '../src/receiver/decode/otlp-scanner.js';
import { EventBatcher } from '../src/receiver/event-batcher.js';
import { RequestMapper, type MapperOptions } from '../src/receiver/mapping/feature-mapper.js';
import { Pseudonymizer } from '../src/receiver/mapping/pseudonymizer.js';
import { request } from './receiver-load.js';

const ROUNDS = Number(process.env.PMF_BENCH_ROUNDS ?? 9);
const SPANS = 500;
const bodies = await Promise.all([0, 1, 2, 3].map((seed) => request(seed, SPANS)));
const scanner = createScannerDecoder();
const protobufjs = createProtobufDecoder();
const decodedBefore = bodies.map((b) => scanner.decodeTraces(b));
const pseudonymizer = new Pseudonymizer('bench-pseudonym-key-0123456789');
const opts: MapperOptions = { attributeKeys: new Set(), now: Date.now(), pseudonymize: pseudonymizer.entryFn };
const batcher = new EventBatcher(6);

const paths = {
  scanner: (i: number) => new RequestMapper(opts, batcher).traces(scanner.decodeTraces(bodies[i])),
  protobufjs: (i: number) => new RequestMapper(opts, batcher).traces(protobufjs.decodeTraces(bodies[i])),
  mapOnly: (i: number) => new RequestMapper(opts, batcher).traces(decodedBefore[i]),
};
type Path = keyof typeof paths;

function round(path: Path): number {
  const run = paths[path];
  const c0 = process.cpuUsage();
  let n = 0;
  let cpu = 0;
  while (cpu < 400_000) {
    run(n & 3);
    batcher.clear();
    n++;
    if ((n & 15) === 0) {
      const c = process.cpuUsage(c0);
      cpu = c.user + c.system;
    }
  }
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / (n * SPANS);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const r1 = (x: number) => Math.round(x * 10) / 10;
for (let i = 0; i < 2; i++) for (const p of Object.keys(paths) as Path[]) round(p);
const results: Record<Path, number[]> = { scanner: [], protobufjs: [], mapOnly: [] };
for (let i = 0; i < ROUNDS; i++) for (const p of Object.keys(paths) as Path[]) results[p].push(r1(round(p)));
const [sc, pb, map] = [median(results.scanner), median(results.protobufjs), median(results.mapOnly)];
const ratio = Number((pb / sc).toFixed(2));
console.log(`decode+map: ${sc} ns per span with the scanner, ${pb} ns with a protobufjs decode (${ratio}x); mapping alone ${map} ns, so decoding ${r1(sc - map)} vs ${r1(pb - map)} ns (medians of ${ROUNDS} alternating rounds)`);
console.log(JSON.stringify({
  bench: 'receiver-decode', spansPerRequest: SPANS, requestBytes: bodies[0].length,
  scannerNsPerSpan: sc, protobufjsNsPerSpan: pb, speedupVsProtobufjs: ratio, mapOnlyNsPerSpan: map,
  scannerDecodeNsPerSpan: r1(sc - map), protobufjsDecodeNsPerSpan: r1(pb - map),
  rounds: results, loadAverage1m: Number(loadavg()[0].toFixed(1)),
}));
