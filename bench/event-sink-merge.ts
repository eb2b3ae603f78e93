// `npm run bench:event-sink-merge`: what merging concurrent publishes into one producer send saves
// (src/receiver/event-sink.ts). The same load both ways, in alternating rounds in one process on
// one core: 32 concurrent "requests", each publishing six ~10 KB records (one per partition, the
// size a 500-span OTLP request maps to), through the real KafkaLog producer (acks=all). Baseline:
// every publish is its own producer send (the sink before merging). Figure: producer-side CPU
// microseconds per record (this process's user + system time), and the ratio merged / baseline.
// Second figure, the sink's linger (receiver.lingerMs): publishes paced as a busy receiver makes
// them (one request's six version 3 records of ~5.4 KB, 64 B per span event, every PMF_BENCH_PACE_MS,
// default 4 ms: about 125 k spans/s), with the default linger and with none, alternating rounds:
// producer CPU microseconds per request, sends and Kafka records per request, and the ratio.
// Env: PMF_BENCH_KAFKA_BROKERS (127.0.0.1:9092), PMF_BENCH_SECONDS (5), PMF_BENCH_ROUNDS (3),
// PMF_BENCH_PACE_MS (4), PMF_BENCH_LINGER_MS (the default linger).
// The last line printed is one JSON object with every number.

import { countingSends, openBenchProducer } from './bench-producer.js';
import type { LogRecord } from '../src/log/partitioned-log.js';
import { configDefaults } from '../src/config/schema.js';
import { LogEventSink } from '../src/receiver/event-sink.js';
import { encodeEventRecord } from '../src/events/event-record-writer.js';
import { partitionForKey } from '../src/log/key-partition.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const BROKERS = process.env.PMF_BENCH_KAFKA_BROKERS ?? '127.0.0.1:9092';
const SECONDS = env('PMF_BENCH_SECONDS', 5);
const ROUNDS = env('PMF_BENCH_ROUNDS', 3);
const CONCURRENCY = 32;
const RECORD_BYTES = 10_400;
const PARTITIONS = 6;

const { topic, log, producer, close } = await openBenchProducer(BROKERS.split(','), 'bench_sink_merge', PARTITIONS, 'bench-sink-merge');
const sink = new LogEventSink(log, producer, topic, PARTITIONS);
await sink.start();

// Keys chosen so that the six records of a request land on six different partitions, as the batcher's do.
const values = Array.from({ length: PARTITIONS }, (_, i) => Buffer.alloc(RECORD_BYTES, i + 1));
const request = (n: number): LogRecord[] => values.map((value, p) => ({ key: `u${n % 97}-${p}`, value }));

async function round(mode: 'merged' | 'per-send'): Promise<{ usPerRecord: number; recordsPerSec: number }> {
  const publish = mode === 'merged' ? (r: LogRecord[]) => sink.publish(r) : (r: LogRecord[]) => producer.send(topic, r);
  let stop = false;
  let measuring = false;
  let records = 0;
  let n = 0;
  const worker = async () => {
    while (!stop) {
      const r = request(n++);
      await publish(r);
      if (measuring) records += r.length;
    }
  };
  const workers = Array.from({ length: CONCURRENCY }, worker);
  await new Promise((r) => setTimeout(r, 1000));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const c = process.cpuUsage(c0);
  const seconds = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(workers);
  return { usPerRecord: Number(((c.user + c.system) / records).toFixed(1)), recordsPerSec: Math.round(records / seconds) };
}

const merged: number[] = [];
const perSend: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  merged.push((await round('merged')).usPerRecord);
  perSend.push((await round('per-send')).usPerRecord);
}

// The linger figure. A user key per partition, and one ~5.4 KB version 3 record for each (84 span
// events, as a 500-span request's events split six ways), so merged sends join them per partition.
const PACE_MS = env('PMF_BENCH_PACE_MS', 4);
const LINGER_MS = env('PMF_BENCH_LINGER_MS', configDefaults.receiver.lingerMs);
const userOf = Array.from({ length: PARTITIONS }, (_, p) => {
  for (let i = 0; ; i++) if (partitionForKey(`user-${i}`, PARTITIONS) === p) return `user-${i}`;
});
const requestRecords = (n: number): LogRecord[] => userOf.map((user, p) => ({
  key: user,
  value: encodeEventRecord(Array.from({ length: 84 }, (_, i) => ({
    user: (p * 1000 + i).toString(16).padStart(32, '0'), time: 1_700_000_000_000 + n, id: `${n.toString(16).padStart(16, '0')}${i.toString(16).padStart(16, '0')}`,
    name: 'GET /api/items/:id', durationMs: 12.5, flags: [{ feature: 'new-dashboard', variant: i % 2 ? 'treatment' : 'control' }], source: 'span' as const,
  }))),
}));
const paced = Array.from({ length: 16 }, (_, n) => requestRecords(n));

async function pacedRound(lingerMs: number): Promise<{ usPerRequest: number; sendsPerRequest: number; recordsPerRequest: number; failedRequests: number }> {
  const counted = countingSends(producer);
  const sink = new LogEventSink(log, counted.producer, topic, PARTITIONS, undefined, { lingerMs });
  await sink.start();
  let stop = false;
  let requests = 0;
  let failed = 0;
  const out = new Set<Promise<void>>();
  const pace = async () => {
    for (let n = 0; !stop; n++) {
      // A publish the broker does not ack in time fails the round: its CPU figure would be a broker's stall.
      const p = sink.publish(paced[n % paced.length]).then(
        () => {
          out.delete(p);
        },
        (err: unknown) => {
          out.delete(p);
          failed++;
          if (failed === 1) console.error(`paced round (linger ${lingerMs} ms): ${String(err)}`);
        },
      );
      out.add(p);
      requests++;
      await new Promise((r) => setTimeout(r, PACE_MS));
    }
  };
  const pacing = pace();
  await new Promise((r) => setTimeout(r, 1000));
  const c0 = process.cpuUsage();
  const r0 = requests;
  const s0 = counted.sends;
  const k0 = counted.records;
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const c = process.cpuUsage(c0);
  const n = requests - r0;
  const result = { usPerRequest: Number(((c.user + c.system) / n).toFixed(1)), sendsPerRequest: Number(((counted.sends - s0) / n).toFixed(3)), recordsPerRequest: Number(((counted.records - k0) / n).toFixed(2)), failedRequests: 0 };
  stop = true;
  await pacing;
  await Promise.all([...out]);
  await sink.stop();
  result.failedRequests = failed;
  return result;
}

const lingerRounds: Awaited<ReturnType<typeof pacedRound>>[] = [];
const noLingerRounds: Awaited<ReturnType<typeof pacedRound>>[] = [];
for (let i = 0; i < ROUNDS; i++) {
  lingerRounds.push(await pacedRound(LINGER_MS));
  noLingerRounds.push(await pacedRound(0));
}
await close();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const ratio = Number((median(merged) / median(perSend)).toFixed(2));
console.log(`producer CPU per ${RECORD_BYTES} B record: merged ${median(merged)} us vs one send per publish ${median(perSend)} us = ${ratio}x (medians of ${ROUNDS} alternating rounds)`);
const medianBy = <T>(runs: T[], key: (r: T) => number): T => [...runs].sort((a, b) => key(a) - key(b))[runs.length >> 1];
const linger = medianBy(lingerRounds, (r) => r.usPerRequest);
const noLinger = medianBy(noLingerRounds, (r) => r.usPerRequest);
const lingerRatio = Number((linger.usPerRequest / noLinger.usPerRequest).toFixed(2));
console.log(`paced publishes (one request every ${PACE_MS} ms): producer CPU per request ${linger.usPerRequest} us with a ${LINGER_MS} ms linger (${linger.sendsPerRequest} sends, ${linger.recordsPerRequest} records per request) vs ${noLinger.usPerRequest} us without (${noLinger.sendsPerRequest} sends, ${noLinger.recordsPerRequest} records) = ${lingerRatio}x`);
console.log(JSON.stringify({
  bench: 'event-sink-merge', usPerRecordMerged: median(merged), usPerRecordPerSend: median(perSend), ratio, rounds: { merged, perSend }, concurrency: CONCURRENCY, recordBytes: RECORD_BYTES, seconds: SECONDS, brokers: BROKERS,
  linger: { lingerMs: LINGER_MS, paceMs: PACE_MS, withLinger: linger, without: noLinger, usPerRequestRatio: lingerRatio, rounds: { withLinger: lingerRounds, without: noLingerRounds } },
}));
