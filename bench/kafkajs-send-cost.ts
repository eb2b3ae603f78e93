// `npm run bench:kafkajs-send-cost`: where kafkajs spends the producer's CPU, split into a cost per
// send, per partition in the send and per byte, from sends of different shapes through the real
// KafkaLog producer (acks=all, two sends in flight), in alternating rounds in one process:
//   1 record of 32 KB (one partition), 6 records of 5.3 KB (six partitions, the same bytes: one
//   500-span request's records), and 6 records of 42.4 KB (eight such requests joined).
// per partition = (6 x 5.3 KB - 1 x 32 KB) / 5; per byte = (6 x 42.4 KB - 6 x 5.3 KB) / bytes added;
// per send = 1 x 32 KB - its bytes. What the receiver's linger and record joining buy follows from
// these (src/receiver/event-sink.ts). Figures are this process's user + system CPU per send.
// Env: PMF_BENCH_KAFKA_BROKERS (127.0.0.1:9092), PMF_BENCH_SECONDS (3), PMF_BENCH_ROUNDS (3).
// The last line printed is one JSON object with every number.

import { openBenchProducer } from './bench-producer.js';
import { partitionForKey } from '../src/log/key-partition.js';
import type { LogRecord } from '../src/log/partitioned-log.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const BROKERS = process.env.PMF_BENCH_KAFKA_BROKERS ?? '127.0.0.1:9092';
const SECONDS = env('PMF_BENCH_SECONDS', 3);
const ROUNDS = env('PMF_BENCH_ROUNDS', 3);
const PARTITIONS = 6;
const IN_FLIGHT = 2;

const { topic, producer, close } = await openBenchProducer(BROKERS.split(','), 'bench_kafkajs_send', PARTITIONS, 'bench-kafkajs-send');

const keyOf = Array.from({ length: PARTITIONS }, (_, p) => {
  for (let i = 0; ; i++) if (partitionForKey(`u${i}`, PARTITIONS) === p) return `u${i}`;
});
const shape = (records: number, bytes: number): LogRecord[] => Array.from({ length: records }, (_, p) => ({ key: keyOf[p], value: Buffer.alloc(bytes, p + 1) }));
const SHAPES = { one32k: shape(1, 32_000), six5k: shape(6, 5_300), six42k: shape(6, 42_400) } as const;
type Shape = keyof typeof SHAPES;
const bytesOf = (s: Shape) => SHAPES[s].reduce((n, r) => n + r.value.length, 0);

async function usPerSend(s: Shape): Promise<number> {
  const records = SHAPES[s];
  let stop = false;
  let sends = 0;
  const lane = async () => {
    while (!stop) {
      await producer.send(topic, records);
      sends++;
    }
  };
  const lanes = Array.from({ length: IN_FLIGHT }, lane);
  await new Promise((r) => setTimeout(r, 500));
  const s0 = sends;
  const c0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const c = process.cpuUsage(c0);
  const n = sends - s0;
  stop = true;
  await Promise.all(lanes);
  return (c.user + c.system) / n;
}

const runs: Record<Shape, number[]> = { one32k: [], six5k: [], six42k: [] };
for (let i = 0; i < ROUNDS; i++) for (const s of Object.keys(SHAPES) as Shape[]) runs[s].push(await usPerSend(s));
await close();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const m = { one32k: median(runs.one32k), six5k: median(runs.six5k), six42k: median(runs.six42k) };
const nsPerByte = ((m.six42k - m.six5k) * 1000) / (bytesOf('six42k') - bytesOf('six5k'));
const usPerPartition = (m.six5k - m.one32k) / (PARTITIONS - 1);
const usPerSendFixed = m.one32k - (nsPerByte * bytesOf('one32k')) / 1000;
const r1 = (x: number) => Number(x.toFixed(1));
console.log(`kafkajs producer CPU per send: 1 x 32 KB ${r1(m.one32k)} us, 6 x 5.3 KB ${r1(m.six5k)} us, 6 x 42.4 KB ${r1(m.six42k)} us (medians of ${ROUNDS} alternating rounds)`);
console.log(`split: ${r1(usPerSendFixed)} us per send + ${r1(usPerPartition)} us per partition + ${r1(nsPerByte)} ns per byte`);
console.log(JSON.stringify({
  bench: 'kafkajs-send-cost', usPerSend: { one32k: r1(m.one32k), six5k: r1(m.six5k), six42k: r1(m.six42k) },
  split: { usPerSendFixed: r1(usPerSendFixed), usPerPartition: r1(usPerPartition), nsPerByte: r1(nsPerByte) },
  rounds: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.map(r1)])), seconds: SECONDS, inFlight: IN_FLIGHT, brokers: BROKERS,
}));
