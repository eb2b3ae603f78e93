// `npm run bench:receiver-decode`: CPU per span of the receiver's protobuf decode + map path alone
// (no gRPC, no Kafka), over the request bytes bench:receiver sends, mapped into the batcher the
// receiver writes records with. In-run baseline: the same mapping after a full protobufjs decode
// (the reference decoder). Each path runs in its own child process (in one process the mapper
// would see both decoders' objects and be compiled for both, slowing both), in alternating
// rounds of 1 s of CPU after 0.5 s of warm-up; medians of PMF_BENCH_ROUNDS (5). Each child also
// times the decoder alone, so the mapping's share can be read off. The last line printed is one
// JSON object with every figure.

import { fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createProtobufDecoder } from '../src/receiver/decode/otlp-decoder.js';
import type { OtlpDecoder } from '../src/receiver/decode/otlp-decoder.js';
import { createScannerDecoder } from '../src/receiver/decode/otlp-scanner.js';
import { EventBatcher } from '../src/receiver/event-batcher.js';
import { RequestMapper, type MapperOptions } from '../src/receiver/mapping/feature-mapper.js';
import { Pseudonymizer } from '../src/receiver/mapping/pseudonymizer.js';
import { request } from './receiver-load.js';

const ROUNDS = Number(process.env.PMF_BENCH_ROUNDS ?? 5);
const SPANS = 500;
type Path = 'scanner' | 'protobufjs';
interface Figures { decodeMapNs: number; decodeNs: number }

/** CPU ns per span of `run` over the four requests in turn, for `cpuUs` of CPU. */
function nsPerSpan(run: (i: number) => void, cpuUs: number): number {
  const c0 = process.cpuUsage();
  let n = 0;
  let cpu = 0;
  while (cpu < cpuUs) {
    run(n & 3);
    n++;
    if ((n & 7) === 0) {
      const c = process.cpuUsage(c0);
      cpu = c.user + c.system;
    }
  }
  return (cpu * 1000) / (n * SPANS);
}

async function child(path: Path): Promise<Figures> {
  const bodies = await Promise.all([0, 1, 2, 3].map((seed) => request(seed, SPANS)));
  const decoder: OtlpDecoder = path === 'scanner' ? createScannerDecoder() : createProtobufDecoder();
  const pseudonymizer = new Pseudonymizer('bench-pseudonym-key-0123456789');
  const opts: MapperOptions = { attributeKeys: new Set(), now: Date.now(), pseudonymize: pseudonymizer.entryFn, pseudonymizeUtf8: pseudonymizer.utf8Fn };
  const batcher = new EventBatcher(6);
  const decodeMap = (i: number) => {
    new RequestMapper(opts, batcher).traces(decoder.decodeTraces(bodies[i]));
    batcher.clear();
  };
  const decode = (i: number) => decoder.decodeTraces(bodies[i]);
  nsPerSpan(decodeMap, 500_000);
  return { decodeMapNs: nsPerSpan(decodeMap, 1_000_000), decodeNs: nsPerSpan(decode, 500_000) };
}

function round(path: Path): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const c = fork(fileURLToPath(import.meta.url), [path], { execArgv: ['--import', 'tsx'] });
    c.once('message', (m) => resolve(m as Figures));
    c.once('exit', (code) => { if (code !== 0) reject(new Error(`child ${path} exited ${code}`)); });
  });
}

const asChild = process.argv[2] as Path | undefined;
if (asChild) {
  process.send!(await child(asChild));
  process.disconnect();
} else {
  const rounds: Record<Path, Figures[]> = { scanner: [], protobufjs: [] };
  for (let i = 0; i < ROUNDS; i++) for (const p of ['scanner', 'protobufjs'] as const) rounds[p].push(await round(p));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const fig = (p: Path) => ({ decodeMapNs: r1(median(rounds[p].map((r) => r.decodeMapNs))), decodeNs: r1(median(rounds[p].map((r) => r.decodeNs))) });
  const sc = fig('scanner');
  const pb = fig('protobufjs');
  const ratio = Number((pb.decodeMapNs / sc.decodeMapNs).toFixed(2));
  console.log(`decode+map: ${sc.decodeMapNs} ns per span with the scanner (decoding alone ${sc.decodeNs}), ${pb.decodeMapNs} ns after a protobufjs decode (alone ${pb.decodeNs}); the scanner path is ${ratio}x as fast (medians of ${ROUNDS} alternating rounds)`);
  console.log(JSON.stringify({
    bench: 'receiver-decode', spansPerRequest: SPANS, requestBytes: (await request(0, SPANS)).length,
    scannerDecodeMapNsPerSpan: sc.decodeMapNs, scannerDecodeNsPerSpan: sc.decodeNs,
    protobufjsDecodeMapNsPerSpan: pb.decodeMapNs, protobufjsDecodeNsPerSpan: pb.decodeNs, speedupVsProtobufjs: ratio,
    rounds: { scanner: rounds.scanner.map((r) => r1(r.decodeMapNs)), protobufjs: rounds.protobufjs.map((r) => r1(r.decodeMapNs)) },
    loadAverage1m: Number(loadavg()[0].toFixed(1)),
  }));
}
