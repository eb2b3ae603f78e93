// `npm run bench:receiver-flood`: floods a receiver process with the worst requests we can build,
// at full concurrency over gRPC and HTTP, and reports what it costs everyone else: the longest
// event-loop stall, peak RSS, and /healthz latency during the flood, against the same process
// idle (the in-run baseline). Targets: peak RSS <= baseline + 2 x the in-flight budget, and the
// longest stall <= 100 ms.
// Requests: empty-span floods (over and at the record cap), an attribute flood, 99-deep nested
// log bodies, gzip bombs (20 MiB of empty spans as protobuf and as OTLP/JSON in ~20 KB), and
// OTLP/JSON bodies just under the object cap.
// Env: PMF_FLOOD_SECONDS (20), PMF_FLOOD_CONCURRENCY (32), PMF_FLOOD_BUDGET_MIB (64), and
// PMF_FLOOD_NODE_ARGS for the receiver process (e.g. --cpu-prof to find where a stall comes from).
// The last line printed is one JSON object with every number.

import { fork } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { LOGS_EXPORT_PATH, TRACE_EXPORT_PATH } from '../src/receiver/transport/otlp-grpc-server.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SECONDS = env('PMF_FLOOD_SECONDS', 20);
const CONCURRENCY = env('PMF_FLOOD_CONCURRENCY', 32);
const BUDGET = env('PMF_FLOOD_BUDGET_MIB', 64) * 1024 * 1024;
const MiB = 1024 * 1024;

const w = () => protobuf.Writer.create();
/** Resource → scope → the given encoded records (field 2 at both levels, as in traces and logs). */
function nest(records: Uint8Array[] | Buffer, raw = false): Buffer {
  let scope: Uint8Array;
  if (raw) scope = records as Buffer;
  else {
    const s = w();
    for (const r of records as Uint8Array[]) s.uint32(18).bytes(r);
    scope = s.finish();
  }
  const resource = w().uint32(18).bytes(scope).finish();
  return Buffer.from(w().uint32(10).bytes(resource).finish());
}
const emptySpans = (n: number) => nest(Buffer.alloc(2 * n).fill(Buffer.from([0x12, 0x00])), true);
function attributeFlood(bytes: number): Buffer {
  const kv = w().uint32(74).bytes(w().uint32(10).string('user.id').uint32(18).bytes(w().uint32(10).string('x').finish()).finish()).finish();
  const n = Math.floor(bytes / kv.length);
  const span = Buffer.alloc(kv.length * n).fill(Buffer.from(kv));
  return nest([span]);
}
function deepLogs(bytes: number): Buffer {
  let value = w().uint32(10).string('x').finish();
  for (let i = 0; i < 97; i++) value = w().uint32(42).bytes(w().uint32(10).bytes(value).finish()).finish();
  const record = w().uint32(9).fixed64(String(BigInt(Date.now()) * 1_000_000n)).uint32(42).bytes(value).finish();
  return nest(Array.from({ length: Math.floor(bytes / (record.length + 3)) }, () => record));
}
const jsonSpans = (n: number) => Buffer.from(`{"resourceSpans":[{"scopeSpans":[{"spans":[${Array(n).fill('{}').join(',')}]}]}]}`);

interface Kind { name: string; transport: 'grpc' | 'http'; path: string; body: Buffer; headers?: Record<string, string> }
const KINDS: Kind[] = [
  { name: 'empty-span flood over the cap (gRPC, 4 MiB)', transport: 'grpc', path: TRACE_EXPORT_PATH, body: emptySpans(Math.floor((4 * MiB - 64) / 2)) },
  { name: 'empty spans at the cap (gRPC)', transport: 'grpc', path: TRACE_EXPORT_PATH, body: emptySpans(20_000) },
  { name: 'attribute flood, keys the mapper reads (gRPC, 4 MiB)', transport: 'grpc', path: TRACE_EXPORT_PATH, body: attributeFlood(4 * MiB - 1024) },
  { name: '97-deep nested log bodies (gRPC, 4 MiB)', transport: 'grpc', path: LOGS_EXPORT_PATH, body: deepLogs(4 * MiB - 1024) },
  { name: 'gzip bomb, 20 MiB of empty spans (HTTP protobuf)', transport: 'http', path: '/v1/traces', body: gzipSync(emptySpans(10 * MiB - 64)), headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' } },
  { name: 'gzip bomb, 20 MiB of {} spans (HTTP JSON)', transport: 'http', path: '/v1/traces', body: gzipSync(jsonSpans(Math.floor((20 * MiB - 100) / 3))), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } },
  { name: 'JSON just under the object cap (HTTP JSON)', transport: 'http', path: '/v1/traces', body: jsonSpans(49_000), headers: { 'content-type': 'application/json' } },
];

const here = fileURLToPath(new URL('.', import.meta.url));
const child = fork(`${here}receiver-flood-server.ts`, [String(BUDGET)], { execArgv: ['--expose-gc', '--import', 'tsx', ...(process.env.PMF_FLOOD_NODE_ARGS ?? '').split(' ').filter(Boolean)], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
const ports = await ask<{ grpcPort: number; httpPort: number; healthPort: number }>('ready');
const client = new grpc.Client(`127.0.0.1:${ports.grpcPort}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 8 * MiB });
const identity = (b: Buffer) => b;

function send(k: Kind): Promise<string> {
  if (k.transport === 'grpc') {
    return new Promise((resolve) => client.makeUnaryRequest(k.path, identity, identity, k.body, (err) => resolve(err ? grpc.status[err.code] : 'OK')));
  }
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port: ports.httpPort, path: k.path, method: 'POST', headers: { ...k.headers, 'content-length': k.body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
    });
    req.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code}`));
    req.end(k.body);
  });
}

function healthz(): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    httpRequest({ host: '127.0.0.1', port: ports.healthPort, path: '/healthz' }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - t0));
    }).on('error', () => resolve(Number.POSITIVE_INFINITY)).end();
  });
}

async function probeHealth(until: () => boolean): Promise<number[]> {
  const out: number[] = [];
  while (!until()) {
    out.push(await healthz());
    await new Promise((r) => setTimeout(r, 50));
  }
  return out;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;
const r1 = (x: number) => Number(x.toFixed(1));

// Baseline: the idle process, after a warm-up round of every kind.
for (const k of KINDS) await send(k);
const { rssBytes: baselineRss } = await ask<{ rssBytes: number }>('baseline');
let idleDone = false;
const idleTimer = setTimeout(() => { idleDone = true; }, 2000);
const idleHealth = await probeHealth(() => idleDone);
clearTimeout(idleTimer);

let stop = false;
const answers = new Map<string, Map<string, number>>();
const worker = async (i: number) => {
  for (let n = i; !stop; n += CONCURRENCY) {
    const k = KINDS[n % KINDS.length];
    const a = await send(k);
    const m = answers.get(k.name) ?? new Map<string, number>();
    m.set(a, (m.get(a) ?? 0) + 1);
    answers.set(k.name, m);
  }
};
const workers = Array.from({ length: CONCURRENCY }, (_, i) => worker(i));
const floodHealthP = probeHealth(() => stop);
await new Promise((r) => setTimeout(r, SECONDS * 1000));
stop = true;
await Promise.all(workers);
const floodHealth = await floodHealthP;
const stats = await ask<{ longestGap: { wallMs: number; onCpuMs: number; runQueueMs: number }; longestOnCpuMs: number; loadAverage: number[]; maxStallMs: number; p99StallMs: number; peakRssBytes: number; inFlightPeakBytes: number; budgetRefusals: number; requests: Record<string, number>; rejected: Record<string, number> }>('stats');
child.send({ type: 'stop' });
client.close();

const rssLimit = baselineRss + 2 * BUDGET;
const result = {
  bench: 'receiver-flood',
  seconds: SECONDS,
  concurrency: CONCURRENCY,
  inFlightBudgetMiB: BUDGET / MiB,
  baselineRssMiB: r1(baselineRss / MiB),
  peakRssMiB: r1(stats.peakRssBytes / MiB),
  rssLimitMiB: r1(rssLimit / MiB),
  rssWithinTarget: stats.peakRssBytes <= rssLimit,
  maxEventLoopStallMs: r1(stats.maxStallMs),
  p99EventLoopStallMs: r1(stats.p99StallMs),
  stallWithinTarget: stats.maxStallMs <= 100,
  longestGapMs: r1(stats.longestGap.wallMs),
  longestGapOnCpuMs: r1(stats.longestGap.onCpuMs),
  longestGapWaitingForCpuMs: r1(stats.longestGap.runQueueMs),
  longestGapBlockedMs: r1(stats.longestGap.wallMs - stats.longestGap.onCpuMs - stats.longestGap.runQueueMs),
  longestOnCpuStallMs: r1(stats.longestOnCpuMs),
  onCpuStallWithinTarget: stats.longestOnCpuMs <= 100,
  loadAverage1m: r1(stats.loadAverage[0]),
  healthzIdleP50Ms: r1(pct(idleHealth, 0.5)),
  healthzFloodP50Ms: r1(pct(floodHealth, 0.5)),
  healthzFloodP99Ms: r1(pct(floodHealth, 0.99)),
  healthzFloodMaxMs: r1(Math.max(...floodHealth)),
  healthzFloodToIdleP50Ratio: r1(pct(floodHealth, 0.5) / pct(idleHealth, 0.5)),
  inFlightPeakMiB: r1(stats.inFlightPeakBytes / MiB),
  budgetRefusals: stats.budgetRefusals,
  answers: Object.fromEntries([...answers].map(([k, m]) => [k, Object.fromEntries(m)])),
  rejected: stats.rejected,
  requestBytes: Object.fromEntries(KINDS.map((k) => [k.name, k.body.length])),
};
for (const [k, m] of Object.entries(result.answers)) console.log(`${k}: ${JSON.stringify(m)}`);
console.log(`peak RSS ${result.peakRssMiB} MiB (idle ${result.baselineRssMiB}, limit ${result.rssLimitMiB}: ${result.rssWithinTarget ? 'ok' : 'OVER'}); ` +
  `longest event-loop stall ${result.maxEventLoopStallMs} ms (target <= 100: ${result.stallWithinTarget ? 'ok' : 'OVER'}); ` +
  `longest gap ${result.longestGapMs} ms = ${result.longestGapOnCpuMs} on CPU + ${result.longestGapWaitingForCpuMs} waiting for a CPU + ${result.longestGapBlockedMs} blocked; ` +
  `longest on-CPU stall ${result.longestOnCpuStallMs} ms; load ${result.loadAverage1m}; ` +
  `/healthz p50 ${result.healthzFloodP50Ms} ms, p99 ${result.healthzFloodP99Ms} ms, max ${result.healthzFloodMaxMs} ms during the flood vs p50 ${result.healthzIdleP50Ms} ms idle`);
console.log(JSON.stringify(result));
process.exit(0);
