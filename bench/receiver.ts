// `npm run bench:receiver` (docs/architecture.md): two receiver figures, each next to its baseline in
// the same run.
//  1. Decode: MB per CPU-second of the lazy scanner and of a full protobufjs decode of the same
//     request bytes (SDK-serialized spans with typical HTTP attributes), in alternating rounds,
//     medians of nine. Target >= 3x.
//  2. Throughput: spans/s acknowledged by a receiver process pinned to one core (taskset), which
//     replies only after Kafka acked (acks=all). Load comes over OTLP/gRPC from this process with
//     pre-serialized requests. Also reported per receiver CPU-second, which stays meaningful on a
//     shared machine. Target >= 60,000 spans/s. In-run baseline: the same load through a bare
//     grpc-js server that forwards each request to Kafka unparsed (bench/receiver-server.ts).
// Env: PMF_BENCH_KAFKA_BROKERS (default 127.0.0.1:9092), PMF_BENCH_SECONDS (10),
// PMF_BENCH_CONCURRENCY (32), PMF_BENCH_SPANS_PER_REQUEST (500), PMF_BENCH_CORE (1),
// PMF_BENCH_ROUNDS (3 alternating rounds of pmf-guard and the forwarding baseline).
// The load generator (this process) pins itself to another core than the receiver's, so on a
// 2-core machine it never takes the receiver's core; the broker and anything else running may.
// Each round reports the load generator's CPU and the machine's busy cores beside the receiver's,
// so a receiver held under one core shows what held it there.
// The last line printed is one JSON object with every number.

import { execFileSync, fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import kafkajs from 'kafkajs';
import { createProtobufDecoder } from '../src/receiver/decode/otlp-decoder.js';
import { TRACE_EXPORT_PATH } from '../src/receiver/transport/otlp-grpc-server.js';
import { createScannerDecoder } from '../src/receiver/decode/otlp-scanner.js';
import { request } from './receiver-load.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const BROKERS = process.env.PMF_BENCH_KAFKA_BROKERS ?? '127.0.0.1:9092';
const SECONDS = env('PMF_BENCH_SECONDS', 10);
const CONCURRENCY = env('PMF_BENCH_CONCURRENCY', 32);
const SPANS_PER_REQUEST = env('PMF_BENCH_SPANS_PER_REQUEST', 500);
const CORE = env('PMF_BENCH_CORE', 1);
const ROUNDS = env('PMF_BENCH_ROUNDS', 3);

function decodeFigures(body: Buffer): { scannerMBps: number; protobufjsMBps: number; ratio: number; requestBytes: number } {
  const full = createProtobufDecoder();
  const scanner = createScannerDecoder();
  // Per CPU-second of this process rather than per wall second: on a shared machine the wall
  // clock also counts time other processes held the core.
  const rate = (decode: () => unknown) => {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let n = 0;
    while (process.hrtime.bigint() - t0 < 300_000_000n) {
      decode();
      n++;
    }
    const c = process.cpuUsage(c0);
    return (n * body.length) / ((c.user + c.system) / 1e6) / 1e6;
  };
  for (let i = 0; i < 3; i++) {
    rate(() => full.decodeTraces(body));
    rate(() => scanner.decodeTraces(body));
  }
  const s: number[] = [];
  const f: number[] = [];
  // Alternating rounds, so both see the same machine load; medians.
  for (let i = 0; i < 9; i++) {
    f.push(rate(() => full.decodeTraces(body)));
    s.push(rate(() => scanner.decodeTraces(body)));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const scannerMBps = median(s);
  const protobufjsMBps = median(f);
  return { scannerMBps: round(scannerMBps), protobufjsMBps: round(protobufjsMBps), ratio: round(scannerMBps / protobufjsMBps, 2), requestBytes: body.length };
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits));

/** Busy CPU-seconds of the whole machine so far, all cores (user+nice+system+irq+softirq+steal in /proc/stat). */
function machineBusySeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Pins this process (all its threads) to a core other than the receiver's; the core, or null when it cannot. */
function pinLoadGenerator(): number | null {
  const other = CORE === 0 ? 1 : 0;
  if (!existsSync('/usr/bin/taskset') || cpus().length < 2) return null;
  try {
    execFileSync('/usr/bin/taskset', ['-a', '-p', '-c', String(other), String(process.pid)], { stdio: 'ignore' });
    return other;
  } catch {
    return null;
  }
}
const loadGeneratorCore = pinLoadGenerator();

interface Stats {
  cpuMs: number;
  eventsProduced: number;
  requests: Record<string, number>;
  publishTimeouts: number;
  inFlightPeakBytes: number;
  rssBytes: number;
}

async function throughput(bodies: Buffer[], mode: 'pmf' | 'forward') {
  const topic = `bench_receiver_${Date.now().toString(36)}`;
  const kafka = new kafkajs.Kafka({ brokers: BROKERS.split(','), clientId: 'bench-admin', logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6, replicationFactor: 1 }] });
  const here = fileURLToPath(new URL('.', import.meta.url));
  const server = `${here}receiver-server.ts`;
  const pinned = existsSync('/usr/bin/taskset');
  const child = fork(server, [BROKERS, topic, mode], {
    execPath: pinned ? '/usr/bin/taskset' : process.execPath,
    execArgv: [...(pinned ? ['-c', String(CORE), process.execPath] : []), '--import', 'tsx', ...(process.env.PMF_BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PMF_BENCH_PROFILE_DIR}`] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = <T>(type: string): Promise<T> => new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type === type) {
        child.off('message', on);
        resolve(m as T);
      }
    };
    child.on('message', on);
    if (type !== 'ready') child.send({ type });
  });
  const { grpcPort } = await ask<{ grpcPort: number }>('ready');
  const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  const identity = (b: Buffer) => b;
  const send = (body: Buffer) => new Promise<grpc.ServiceError | null>((resolve) => {
    client.makeUnaryRequest(TRACE_EXPORT_PATH, identity, identity, body, (err) => resolve(err ?? null));
  });

  let measuring = false;
  let stop = false;
  let acked = 0;
  let failed = 0;
  const latencies: number[] = [];
  const worker = async (w: number) => {
    for (let i = w; !stop; i += CONCURRENCY) {
      const t0 = performance.now();
      const err = await send(bodies[i % bodies.length]);
      if (!measuring) continue;
      if (err) failed++;
      else {
        acked += SPANS_PER_REQUEST;
        latencies.push(performance.now() - t0);
      }
    }
  };
  const workers = Array.from({ length: CONCURRENCY }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, 3000)); // warm-up: JIT, Kafka connections, metadata
  const before = await ask<{ cpuMs: number }>('cpu');
  const lg0 = process.cpuUsage();
  const busy0 = machineBusySeconds();
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const after = await ask<{ cpuMs: number }>('cpu');
  const lg = process.cpuUsage(lg0);
  const machineBusy = machineBusySeconds() - busy0;
  stop = true;
  await Promise.all(workers);
  const stats = await ask<Stats & { type: string }>('stats');
  child.send({ type: 'stop' });
  client.close();
  await new Promise((r) => child.once('exit', r));
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  latencies.sort((a, b) => a - b);
  const cpuSeconds = (after.cpuMs - before.cpuMs) / 1000;
  return {
    spansPerSec: Math.round(acked / seconds),
    spansPerCpuSec: Math.round(acked / cpuSeconds),
    receiverCpuUtilisation: round(cpuSeconds / seconds, 2),
    seconds: round(seconds, 1),
    ackedSpans: acked,
    failedRequests: failed,
    concurrency: CONCURRENCY,
    spansPerRequest: SPANS_PER_REQUEST,
    requestP50Ms: round(latencies[latencies.length >> 1] ?? NaN),
    requestP99Ms: round(latencies[Math.floor(latencies.length * 0.99)] ?? NaN),
    pinnedToCore: pinned ? CORE : null,
    loadGeneratorCore,
    loadGeneratorCpuUtilisation: round((lg.user + lg.system) / 1e6 / seconds, 2),
    /** Busy cores of the whole machine during the window: receiver, load generator, broker and everything else. */
    machineBusyCores: round(machineBusy / seconds, 2),
    eventsProduced: stats.eventsProduced,
    inFlightPeakBytes: stats.inFlightPeakBytes,
    receiverRssMB: round(stats.rssBytes / 2 ** 20),
    brokers: BROKERS,
  };
}

const bodies = await Promise.all(Array.from({ length: 8 }, (_, i) => request(i, SPANS_PER_REQUEST)));
const decode = decodeFigures(bodies[0]);
console.log(`decode: scanner ${decode.scannerMBps} MB/s vs protobufjs ${decode.protobufjsMBps} MB/s = ${decode.ratio}x (target >= 3x; ${decode.requestBytes} B requests)`);
// Alternating rounds of pmf-guard and the forwarding baseline, so both see the same machine load.
const pmfRuns: Awaited<ReturnType<typeof throughput>>[] = [];
const forwardRuns: Awaited<ReturnType<typeof throughput>>[] = [];
for (let round = 0; round < ROUNDS; round++) {
  pmfRuns.push(await throughput(bodies, 'pmf'));
  forwardRuns.push(await throughput(bodies, 'forward'));
}
const medianBy = <T>(runs: T[], key: (r: T) => number): T => [...runs].sort((a, b) => key(a) - key(b))[runs.length >> 1];
const kafka = medianBy(pmfRuns, (r) => r.spansPerCpuSec);
const forward = medianBy(forwardRuns, (r) => r.spansPerCpuSec);
const cpuRatio = round(kafka.spansPerCpuSec / forward.spansPerCpuSec, 2);
console.log(`kafka: ${kafka.spansPerSec} spans/s acknowledged after Kafka acks, receiver on core ${kafka.pinnedToCore} at ${kafka.receiverCpuUtilisation} CPU (${kafka.spansPerCpuSec} spans per CPU-second; target >= 60000 spans/s), p50 ${kafka.requestP50Ms} ms, p99 ${kafka.requestP99Ms} ms per ${SPANS_PER_REQUEST}-span request`);
console.log(`machine: load generator on core ${kafka.loadGeneratorCore} at ${kafka.loadGeneratorCpuUtilisation} CPU; ${kafka.machineBusyCores} of ${cpus().length} cores busy in all during that round`);
console.log(`baseline: forwarding the same requests to Kafka unparsed, ${forward.spansPerCpuSec} spans per CPU-second; pmf-guard does ${cpuRatio}x of that per CPU-second (medians of ${ROUNDS} alternating rounds)`);
console.log(JSON.stringify({
  bench: 'receiver', decode, kafka, forwardBaseline: forward, spansPerCpuSecRatioVsForward: cpuRatio,
  rounds: { pmfSpansPerCpuSec: pmfRuns.map((r) => r.spansPerCpuSec), forwardSpansPerCpuSec: forwardRuns.map((r) => r.spansPerCpuSec) },
}));
