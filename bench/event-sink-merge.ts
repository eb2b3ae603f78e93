// `npm run bench:event-sink-merge`: what merging concurrent publishes into one producer send saves
// (src/receiver/event-sink.ts). The same load both ways, in alternating rounds in one process on
// one core: 32 concurrent "requests", each publishing six ~10 KB records (one per partition, the
// size a 500-span OTLP request maps to), through the real KafkaLog producer (acks=all). Baseline:
// every publish is its own producer send (the sink before merging). Figure: producer-side CPU
// microseconds per record (this process's user + system time), and the ratio merged / baseline.
// Env: PMF_BENCH_KAFKA_BROKERS (127.0.0.1:9092), PMF_BENCH_SECONDS (5), PMF_BENCH_ROUNDS (3).
// The last line printed is one JSON object with every number.

import kafkajs from 'kafkajs';
import { silentLogger } from '../src/core/logger.js';
import { KafkaLog } from '../src/log/kafka/kafka-log.js';
import type { LogRecord } from '../src/log/partitioned-log.js';
import { LogEventSink } from '../src/receiver/event-sink.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const BROKERS = process.env.PMF_BENCH_KAFKA_BROKERS ?? '127.0.0.1:9092';
const SECONDS = env('PMF_BENCH_SECONDS', 5);
const ROUNDS = env('PMF_BENCH_ROUNDS', 3);
const CONCURRENCY = 32;
const RECORD_BYTES = 10_400;
const PARTITIONS = 6;

const topic = `bench_sink_merge_${Date.now().toString(36)}`;
const admin = new kafkajs.Kafka({ brokers: BROKERS.split(','), clientId: 'bench-admin', logLevel: kafkajs.logLevel.NOTHING }).admin();
await admin.connect();
await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }] });
const log = new KafkaLog({ logger: silentLogger, brokers: BROKERS.split(','), clientId: 'bench-sink-merge', logLevel: 'error' });
const producer = log.producer('bench-sink-merge');
await producer.start();
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
await producer.stop();
await log.close();
await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
await admin.disconnect();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const ratio = Number((median(merged) / median(perSend)).toFixed(2));
console.log(`producer CPU per ${RECORD_BYTES} B record: merged ${median(merged)} us vs one send per publish ${median(perSend)} us = ${ratio}x (medians of ${ROUNDS} alternating rounds)`);
console.log(JSON.stringify({ bench: 'event-sink-merge', usPerRecordMerged: median(merged), usPerRecordPerSend: median(perSend), ratio, rounds: { merged, perSend }, concurrency: CONCURRENCY, recordBytes: RECORD_BYTES, seconds: SECONDS, brokers: BROKERS }));
