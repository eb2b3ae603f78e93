// The aggregator stage on one core, end to end on the local stack (npm run bench:aggregator):
//  1. N feature events (hex pseudonyms, trace/span ids, three ruled features, 5 % late) are
//     produced to a fresh one-partition topic on real Kafka (one feature opts in to early
//     activation counts), one per record and in records of 100; the generated objects are then
//     dropped, so the stage runs in a heap that holds what a deployed stage holds;
//  2. baseline: a plain kafkajs consumer reads the same messages (no processing);
//  3. the aggregator stage as deployed: StatefulRunner + AggregatorProcessor over KafkaLog, with
//     state + offset checkpoints written to real PostgreSQL every checkpointIntervalMs and the
//     FeaturePartials published to Kafka; timed from its first batch until the checkpoint holds
//     the topic's end offset;
//  3b. the same events in records of PMF_BENCH_EVENTS_PER_RECORD (default 100), as the receiver
//     writes them (one record per export request and partition), through a raw consume and the
//     stage once each: the Kafka client's cost per record is then shared by many events;
//  4. the same events decoded and applied in-process with a serialize() per second of work (the
//     CPU ceiling without I/O), and through the stage's processor with its step snapshots taken
//     every 500 records (a consumer batch) and encoded, with the bytes the same snapshots take as
//     format-1 JSON records (one full snapshot per step and feature) for comparison; the
//     processor again over records of PMF_BENCH_EVENTS_PER_RECORD (the headline's shape without
//     Kafka or PostgreSQL: what decoding and applying cost there). All three decode as the stage
//     does (users and ids left in the record bytes, reused event bodies);
//  5. bytes per tracked (user, feature): the store's accounted bytes at the end of (4) and the
//     heap growth per pair of a fresh store built with --expose-gc;
//  6. the histogram against hdr-histogram-js (bench/histogram-measure.ts).
// The workload spreads 1 M events over 10 days of event time on one partition: about 70 events per
// 60 s verdict step, so the watermark crosses a step every few dozen records. That is a catch-up or
// replay of a small service; a live partition at a few hundred events/s crosses one per minute.
// Targets: ≥ 200k events/s per core including checkpoints, judged on records as the receiver writes
// them (the JSON's `headline`: 3b, events per CPU-second of the process); ≤ 64 B per tracked
// (user, feature); histogram record ≤ 50 ns; one histogram ≤ 10 KB serialized.
// The last printed line is one JSON object with the figures.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { AggregatorProcessor, aggregatorProcessorFactory } from '../src/stream/aggregator-processor.js';
import { encodeJson } from '../src/events/codec.js';
import { decodeCohortStats } from '../src/events/cohort-stats-codec.js';
import { PartitionAggregator } from '../src/aggregation/partition-aggregator.js';
import { systemClock } from '../src/core/clock.js';
import { silentLogger } from '../src/core/logger.js';
import { decodeEventRecordIds } from '../src/events/event-record-codec.js';
import { RecordIds } from '../src/events/record-ids.js';
import { encodeEventRecord } from '../src/events/event-record-writer.js';
import type { FeatureEvent } from '../src/events/feature-event.js';
import { topicNames } from '../src/events/topics.js';
import { migrate } from '../src/store/migrations.js';
import { PgSqlClient } from '../src/store/pg-sql-client.js';
import { KafkaLog } from '../src/log/kafka/kafka-log.js';
import type { LogRecord } from '../src/log/partitioned-log.js';
import { Rule, type RuleSet } from '../src/rules/schema.js';
import type { CheckpointSave } from '../src/stream/checkpoint-store.js';
import { SqlCheckpointStore } from '../src/store/sql-checkpoint-store.js';
import { StatefulRunner } from '../src/stream/stateful-runner.js';
import { measureHistogram } from './histogram-measure.js';
import { mulberry32, randomHex } from '../test/helpers/prng.js';

const EVENTS = Number(process.env.PMF_BENCH_EVENTS ?? 1_000_000);
const USERS = Number(process.env.PMF_BENCH_USERS ?? 150_000);
const BROKERS = (process.env.PMF_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const DATABASE_URL = process.env.PMF_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CHECKPOINT_INTERVAL_MS = 1000;
/** Issue 15: the stage's events per second on one core, checkpoints included. */
const TARGET_EVENTS_PER_CORE = 200_000;
/** Events per record in the batched runs (an export request of 100 spans to one partition). */
const EVENTS_PER_RECORD = Number(process.env.PMF_BENCH_EVENTS_PER_RECORD ?? 100);
const DAY = 86_400_000;
/** The verdict step (config verdict.stepSeconds default): a snapshot per feature each time the watermark crosses one. */
const STEP_MS = 60_000;

const progress = (msg: string) => process.stderr.write(`[bench:aggregator] ${msg}\n`);

/**
 * Seconds the main thread spent runnable but waiting for a CPU (Linux /proc schedstat, field 2),
 * or NaN elsewhere. On a shared machine this tells a stage that was descheduled apart from one
 * that waited on its own I/O: the event loop's utilization counts both as busy or both as idle.
 */
function runQueueWaitSeconds(): number {
  try {
    const fields = readFileSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, 'utf8').trim().split(/\s+/);
    return Number(fields[1]) / 1e9;
  } catch {
    return Number.NaN;
  }
}

function rules(): RuleSet {
  const base = { activationThreshold: 0.2, retentionThreshold: 0.2, latencyP95Threshold: 450, minCohortSize: 100, evaluationWindowSeconds: 3600 };
  const parsed = [
    // Opts in to early activation counts (8 h landmark): the deadline heap carries a third deadline.
    Rule.parse({ ...base, featureId: 'checkout-v2', activation: { action: { spanName: 'purchase' }, earlySeconds: 28_800 }, cohorts: { map: { on: 'treatment', off: 'control' } } }),
    Rule.parse({ ...base, featureId: 'dashboard-v3', latency: { spanName: 'GET /dashboard' } }),
    Rule.parse({ ...base, featureId: 'search-ranker', activation: { action: { attribute: { key: 'search.clicked', value: 'true' } } } }),
  ];
  return { version: 'bench', rules: parsed, byFeature: new Map(parsed.map((r) => [r.featureId, r])) };
}

/**
 * `count` events over `spanMs` of event time. Users arrive evenly over the span and are active
 * for three days after arriving, so the tracked population reaches a steady state (exposures ≈
 * evictions once the 7-day retention windows start closing).
 */
function generate(count: number, users: number, spanMs: number, seed: number): FeatureEvent[] {
  const rand = mulberry32(seed);
  const hex = (digits: number) => randomHex(rand, digits);
  const ids = Array.from({ length: users }, () => hex(32));
  const t0 = 1_700_000_000_000;
  const activeFor = 3 * DAY;
  const names = ['GET /dashboard', 'purchase', 'GET /search', 'page'];
  const out: FeatureEvent[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const at = (i / count) * spanMs;
    const hi = Math.min(users - 1, Math.floor((at / spanMs) * users));
    const lo = Math.max(0, Math.floor(((at - activeFor) / spanMs) * users));
    const r = rand();
    const flags =
      r < 0.3
        ? [{ feature: 'checkout-v2', variant: rand() < 0.5 ? 'on' : 'off' }]
        : r < 0.5
          ? [{ feature: 'dashboard-v3', variant: rand() < 0.5 ? 'new' : 'old' }]
          : r < 0.6
            ? [{ feature: 'search-ranker', variant: 'b' }]
            : [];
    const jitter = rand() < 0.05 ? rand() * 10 * 60_000 : 0; // 5 % arrive up to 10 min late
    const e: FeatureEvent = {
      user: ids[lo + Math.floor(rand() * (hi - lo + 1))],
      time: Math.floor(t0 + at - jitter),
      id: hex(32) + hex(16),
      name: names[Math.floor(rand() * names.length)],
      flags,
      durationMs: Math.round(Math.exp(Math.log(120) + rand() * 1.5) * 1000) / 1000,
      source: 'span',
    };
    if (rand() < 0.1) e.attrs = { 'search.clicked': 'true' };
    out[i] = e;
  }
  return out;
}

async function produce(log: KafkaLog, topic: string, values: Buffer[], keys: string[]): Promise<void> {
  const producer = log.producer('bench-feeder');
  await producer.start();
  // At most 2,000 records or 512 KB per send: one send is one record batch, and the broker refuses
  // a batch over message.max.bytes (1 MiB by default).
  for (let i = 0; i < values.length; ) {
    const records: LogRecord[] = [];
    let bytes = 0;
    for (; i < values.length && records.length < 2000 && bytes < 512 * 1024; i++) {
      records.push({ key: keys[i], value: values[i] });
      bytes += values[i].length;
    }
    await producer.send(topic, records);
  }
  await producer.stop();
}

/** A plain kafkajs consumer over the same messages: the baseline for "consume rate". */
async function rawConsume(topic: string, end: number, clientId: string, events = end): Promise<Record<string, number>> {
  const kafka = new kafkajs.Kafka({ brokers: BROKERS, clientId, logLevel: kafkajs.logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${clientId}-raw`, maxWaitTimeInMs: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let first = 0;
  let seen = 0;
  let bytes = 0;
  let cpu0 = process.cpuUsage();
  const done = new Promise<number>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (first === 0) {
          first = performance.now();
          cpu0 = process.cpuUsage();
        }
        for (const m of batch.messages) bytes += m.value?.length ?? 0;
        seen += batch.messages.length;
        if (seen >= end) resolve(performance.now());
      },
    });
  });
  const last = await done;
  const cpu = process.cpuUsage(cpu0);
  await consumer.disconnect();
  const seconds = (last - first) / 1000;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { seconds: +seconds.toFixed(3), eventsPerSecond: Math.round(events / seconds), bytes, processCpuSecondsPerWallSecond: +(cpuSeconds / seconds).toFixed(2), eventsPerProcessCpuSecond: Math.round(events / cpuSeconds) };
}

async function aggregatorStage(
  log: KafkaLog,
  pool: pg.Pool,
  schema: string,
  prefix: string,
  end: number,
  groupId: string,
  events = end,
  inputTopic?: string,
): Promise<Record<string, number>> {
  const topics = topicNames(prefix);
  const sql = new PgSqlClient(pool);
  await migrate(sql, schema);
  const inner = new SqlCheckpointStore(sql, schema);
  let finished: () => void = () => {};
  const reachedEnd = new Promise<void>((resolve) => (finished = resolve));
  let first = 0;
  let lastApplied = 0;
  let elu0 = performance.eventLoopUtilization();
  let wait0 = 0;
  let checkpoints = 0;
  let checkpointBytes = 0;
  let checkpointMs = 0;
  const store = {
    load: inner.load.bind(inner),
    loadOffset: inner.loadOffset.bind(inner),
    async save(stage: string, topic: string, cp: CheckpointSave): Promise<boolean> {
      const t0 = performance.now();
      const saved = await inner.save(stage, topic, cp);
      checkpointMs += performance.now() - t0;
      checkpoints++;
      // Head plus the part rows it wrote (incremental checkpoints).
      checkpointBytes = cp.state.length + (cp.changes?.put ?? []).reduce((sum, p) => sum + p.data.length, 0);
      if (BigInt(cp.offset) >= BigInt(end)) finished();
      return saved;
    },
  };
  const factory = aggregatorProcessorFactory(topics, STEP_MS, () => ({ rules: rules() }));
  const innerProducer = log.producer('bench-aggregator');
  let snapshotRecords = 0;
  let snapshotBytes = 0;
  const producer = {
    name: innerProducer.name,
    start: () => innerProducer.start(),
    stop: () => innerProducer.stop(),
    send: (topic: string, records: LogRecord[]) => {
      if (topic === topics.cohortStats) {
        snapshotRecords += records.length;
        for (const r of records) snapshotBytes += r.value.length;
      }
      return innerProducer.send(topic, records);
    },
  };
  await producer.start();
  const runner = new StatefulRunner({
    name: 'aggregator',
    log,
    producer,
    store,
    factory: {
      create: (p) => {
        first = performance.now();
        elu0 = performance.eventLoopUtilization();
        wait0 = runQueueWaitSeconds();
        const processor = factory.create(p);
        const apply = processor.apply.bind(processor);
        processor.apply = (record) => {
          apply(record);
          if (BigInt(record.offset) === BigInt(end) - 1n) lastApplied = performance.now();
        };
        return processor;
      },
      restore: factory.restore,
    },
    groupId,
    inputTopic: inputTopic ?? topics.events,
    checkpointIntervalMs: CHECKPOINT_INTERVAL_MS,
    clock: systemClock,
    onError: (err, context) => progress(`error in ${context}: ${String(err)}`),
  });
  const cpu0 = process.cpuUsage();
  await runner.start();
  await reachedEnd;
  const last = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  const waited = runQueueWaitSeconds() - wait0;
  await runner.stop();
  await producer.stop();
  const seconds = (last - first) / 1000;
  return {
    seconds: +seconds.toFixed(3),
    eventsPerSecond: Math.round(events / seconds),
    checkpoints,
    checkpointIntervalMs: CHECKPOINT_INTERVAL_MS,
    lastCheckpointBytes: checkpointBytes,
    checkpointWriteMsTotal: Math.round(checkpointMs),
    processCpuSecondsPerWallSecond: +((cpu.user + cpu.system) / 1e6 / seconds).toFixed(2),
    // On a shared machine the stage may get less than a core: its rate per CPU-second is the steadier figure.
    eventsPerProcessCpuSecond: Math.round(events / ((cpu.user + cpu.system) / 1e6)),
    snapshotRecordsPublished: snapshotRecords,
    snapshotBytesPublished: snapshotBytes,
    // Where the wall time went: the main thread busy (running, or runnable but descheduled), its
    // wait for a CPU, and the time from the last record applied to the checkpoint holding it
    // (the checkpoint timer's phase plus the save).
    eventLoopUtilization: +elu.utilization.toFixed(3),
    runQueueWaitSecondsPerWallSecond: +(waited / seconds).toFixed(3),
    secondsAfterLastRecord: +((last - lastApplied) / 1000).toFixed(3),
  };
}

/**
 * The stage's processor without I/O: decode, apply, step snapshots, and every 500 records (a
 * consumer batch) the cohort-stats records encoded. Also the bytes of the same snapshots as
 * format-1 records (one JSON snapshot per step and feature), the encoding before format 2.
 */
function inProcessStage(values: Buffer[], events = values.length): Record<string, number> {
  const topics = topicNames('bench.');
  let best = Infinity;
  let bestCpu = Infinity;
  let records = 0;
  let bytes = 0;
  let steps = 0;
  let jsonBytes = 0;
  for (let round = 0; round < 2; round++) {
    const proc = new AggregatorProcessor(new PartitionAggregator({ partition: 0, rules: rules() }), topics, STEP_MS);
    const out: Buffer[] = [];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < values.length; i++) {
      proc.apply({ partition: 0, offset: String(i), key: null, value: values[i], timestamp: 0 });
      if (i % 500 === 499 || i === values.length - 1) for (const o of proc.takeOutputs()) for (const r of o.records) out.push(r.value);
    }
    const dt = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    best = Math.min(best, dt);
    bestCpu = Math.min(bestCpu, (cpu.user + cpu.system) / 1e6);
    records = out.length;
    bytes = out.reduce((sum, b) => sum + b.length, 0);
    if (round === 0) {
      const decoded = out.flatMap((b) => decodeCohortStats(b));
      steps = decoded.length;
      jsonBytes = decoded.reduce((sum, p) => sum + encodeJson(p).length, 0);
    }
  }
  return {
    eventsPerSecond: Math.round(events / (best / 1000)),
    eventsPerProcessCpuSecond: Math.round(events / bestCpu),
    snapshots: steps,
    records,
    bytes,
    format1JsonBytes: jsonBytes,
    bytesRatioToFormat1: +(bytes / jsonBytes).toFixed(4),
  };
}

/** Decode + apply in-process, a serialize() after every second of work: no I/O at all. */
function inProcess(values: Buffer[]): { result: Record<string, number>; agg: PartitionAggregator } {
  let best = Infinity;
  let agg!: PartitionAggregator;
  let serializeMs = 0;
  let lastBytes = 0;
  const ids = new RecordIds();
  for (let round = 0; round < 2; round++) {
    agg = new PartitionAggregator({ partition: 0, rules: rules() });
    let ser = 0;
    const t0 = performance.now();
    let nextCheckpoint = t0 + 1000;
    for (let i = 0; i < values.length; i++) {
      // The stage's decoding (users and ids left in the record's bytes, reused bodies), not the
      // FeatureEvent objects replay and tests build.
      const offset = String(i);
      const events = decodeEventRecordIds(values[i], ids);
      for (let k = 0; k < events.length; k++) if (!agg.applyInRecord(events[k], offset, k === 0, ids, k)) break;
      if ((i & 1023) === 0 && performance.now() >= nextCheckpoint) {
        const c0 = performance.now();
        lastBytes = agg.serialize().length;
        agg.snapshot();
        ser += performance.now() - c0;
        nextCheckpoint = performance.now() + 1000;
      }
    }
    const dt = performance.now() - t0;
    if (dt < best) {
      best = dt;
      serializeMs = ser;
    }
  }
  const s = agg.stats();
  const c0 = performance.now();
  const state = agg.serialize();
  const serializeFullMs = performance.now() - c0;
  const r0 = performance.now();
  PartitionAggregator.restore(state, { partition: 0, rules: rules() });
  const restoreMs = performance.now() - r0;
  return {
    agg,
    result: {
      eventsPerSecond: Math.round(values.length / (best / 1000)),
      serializeShare: +(serializeMs / best).toFixed(3),
      lastCheckpointBytes: lastBytes || state.length,
      serializeMs: +serializeFullMs.toFixed(1),
      restoreMs: +restoreMs.toFixed(1),
      trackedPairs: s.trackedUsers,
      evictedPairs: s.evictedUsers,
      lateEvents: s.lateEvents,
      tooLate: s.tooLate,
    },
  };
}

/** Bytes per tracked (user, feature) at the end of the in-process run (a steady state). */
function steadyState(agg: PartitionAggregator): Record<string, number> {
  const s = agg.stats();
  return {
    trackedPairs: s.trackedUsers,
    accountedStateBytesPerPair: +(s.stateBytes / s.trackedUsers).toFixed(1),
    checkpointBytesPerPair: +(agg.serialize().length / s.trackedUsers).toFixed(1),
    retiredPairs: s.retiredUsers,
    markerBytesPerRetiredPair: +(s.markerBytes / Math.max(1, s.retiredUsers)).toFixed(1),
    dedupeEntries: s.dedupeEntries,
    dedupeBytes: s.dedupeBytes,
    // Ids are remembered for events that reached a live state, over the lateness horizon.
    dedupeBytesPerEntry: s.dedupeEntries === 0 ? 0 : +(s.dedupeBytes / s.dedupeEntries).toFixed(1),
    dedupeBytesPerTrackedPair: +(s.dedupeBytes / s.trackedUsers).toFixed(1),
    dedupeEvictedByCap: s.dedupeEvictedByCap,
  };
}

/**
 * Heap growth (V8 heap + array buffers) per tracked pair of a fresh aggregator given `pairs`
 * exposures, measured with gc() in a clean heap; the events stay referenced throughout.
 */
function heapPerPair(pairs: number, featuresPerUser: number): number | string {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return 'run with node --expose-gc';
  const users = Array.from({ length: Math.ceil(pairs / featuresPerUser) }, () => randomBytes(16).toString('hex'));
  const features = ['checkout-v2', 'dashboard-v3', 'search-ranker'];
  const events: FeatureEvent[] = [];
  for (let i = 0; i < pairs; i++) {
    events.push({ user: users[Math.floor(i / featuresPerUser)], time: 1_700_000_000_000 + i, id: `i${i}`, name: 'page', flags: [{ feature: features[i % featuresPerUser], variant: 'on' }], source: 'span' });
  }
  const used = () => {
    gc();
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  // Lateness horizon 0 and no lateness: ids expire at once, so the growth is the user state.
  const a = new PartitionAggregator({ partition: 0, rules: rules(), maxLatenessMs: 0, allowedLatenessMs: 0 });
  for (let i = 0; i < pairs; i++) a.apply(events[i], String(i));
  const after = used();
  const perPair = (after - before) / a.stats().trackedUsers;
  if (events.length !== pairs) throw new Error('unreachable'); // keeps events alive until here
  return +perPair.toFixed(1);
}

/**
 * Generates the workload and produces it twice: one event per record to `topic`, and records of
 * EVENTS_PER_RECORD events (one record per export request and partition, as the receiver writes
 * them, so the Kafka client's cost per record is shared) to `batchedTopic`; returns how many
 * batched records. The generated events (a million objects, about 300 MB of heap) and their
 * encodings stay in this function: kept alive beside the stage runs, the collector marked them
 * again and again (3-3.6 s of incremental marking and 0.5-1 s of scavenges per stage run) and
 * the stage was measured in a heap no deployed aggregator has.
 */
async function produceWorkload(log: KafkaLog, topic: string, batchedTopic: string): Promise<number> {
  progress(`generating ${EVENTS} events from ${USERS} users`);
  const events = generate(EVENTS, USERS, 10 * DAY, 1);
  progress(`producing to ${topic}`);
  await produce(log, topic, events.map((e) => encodeEventRecord([e])), events.map((e) => e.user));
  const batchedValues: Buffer[] = [];
  const batchedKeys: string[] = [];
  for (let i = 0; i < events.length; i += EVENTS_PER_RECORD) {
    batchedValues.push(encodeEventRecord(events.slice(i, i + EVENTS_PER_RECORD)));
    batchedKeys.push(events[i].user);
  }
  progress(`producing ${batchedValues.length} records of up to ${EVENTS_PER_RECORD} events to ${batchedTopic}`);
  await produce(log, batchedTopic, batchedValues, batchedKeys);
  return batchedValues.length;
}

async function main(): Promise<void> {
  const id = `bench_agg_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const prefix = `${id}.`;
  const topics = topicNames(prefix);
  const batchedTopic = `${topics.events}.batched`;
  progress('memory of fresh stores');
  const heap = {
    heapBytesPerPair_500k_1FeaturePerUser: heapPerPair(500_000, 1),
    heapBytesPerPair_500k_3FeaturesPerUser: heapPerPair(500_000, 3),
    heapBytesPerPair_2M_2FeaturesPerUser: heapPerPair(2_000_000, 2),
  };
  const log = new KafkaLog({ brokers: BROKERS, clientId: id, logger: silentLogger, sendTimeoutMs: 30_000 });
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  try {
    await log.ensureTopics([...Object.values(topics), batchedTopic].map((name) => ({ name, partitions: 1 })));
    const batchedRecords = await produceWorkload(log, topics.events, batchedTopic);

    // Two runs of each, alternating, best kept: the shared broker's page cache and the other
    // processes on the machine make single runs noisy.
    const raws: Awaited<ReturnType<typeof rawConsume>>[] = [];
    const stages: Record<string, number>[] = [];
    for (let run = 1; run <= 2; run++) {
      progress(`raw kafkajs consume, run ${run}`);
      raws.push(await rawConsume(topics.events, EVENTS, `${id}_${run}`));
      progress(`aggregator stage (Kafka + PostgreSQL checkpoints every ${CHECKPOINT_INTERVAL_MS} ms), run ${run}`);
      stages.push(await aggregatorStage(log, pool, `${id}_${run}`, prefix, EVENTS, `${id}_${run}`));
    }
    const raw = raws.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));
    const stage = stages.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));

    // The same events in records of EVENTS_PER_RECORD, as the receiver writes them. One run each.
    progress('raw kafkajs consume, batched records');
    const batchedRaw = await rawConsume(batchedTopic, batchedRecords, `${id}_b`, EVENTS);
    progress('aggregator stage, batched records');
    const batchedStage = await aggregatorStage(log, pool, `${id}_3`, prefix, batchedRecords, `${id}_3`, EVENTS, batchedTopic);
    // The in-process runs need the encoded events again (the same seed gives the same events).
    const regenerated = generate(EVENTS, USERS, 10 * DAY, 1);
    const values = regenerated.map((e) => encodeEventRecord([e]));
    const batchedValues: Buffer[] = [];
    for (let i = 0; i < regenerated.length; i += EVENTS_PER_RECORD) batchedValues.push(encodeEventRecord(regenerated.slice(i, i + EVENTS_PER_RECORD)));
    regenerated.length = 0;
    progress('in-process decode + apply');
    const local = inProcess(values);
    progress('in-process stage processor (step snapshots encoded, no I/O)');
    const localStage = inProcessStage(values);
    progress(`in-process stage processor, records of ${EVENTS_PER_RECORD} events`);
    const localStageBatched = inProcessStage(batchedValues, EVENTS);
    const mem = { ...heap, steadyState: steadyState(local.agg) };
    progress('histogram');
    const histogram = measureHistogram();

    const figures = {
      node: process.version,
      events: EVENTS,
      users: USERS,
      eventBytesAvg: Math.round(raw.bytes / EVENTS),
      // The figure the target is judged on: records as the receiver writes them (many events per
      // record), events per CPU-second of the stage's process (per core, whatever else shares the
      // machine) and per wall second. The one-event-per-record figures follow, for the history.
      headline: {
        eventsPerRecord: EVENTS_PER_RECORD,
        aggregatorEventsPerProcessCpuSecond: batchedStage.eventsPerProcessCpuSecond,
        aggregatorEventsPerSecond: batchedStage.eventsPerSecond,
        rawKafkajsConsumeEventsPerSecond: batchedRaw.eventsPerSecond,
        targetEventsPerCore: TARGET_EVENTS_PER_CORE,
        targetMet: batchedStage.eventsPerProcessCpuSecond >= TARGET_EVENTS_PER_CORE,
      },
      aggregatorEventsPerSecond: stage.eventsPerSecond,
      rawKafkajsConsumeEventsPerSecond: raw.eventsPerSecond,
      aggregatorToRawConsumeRatio: +(stage.eventsPerSecond / raw.eventsPerSecond).toFixed(3),
      stage,
      raw,
      runs: { rawEventsPerSecond: raws.map((r) => r.eventsPerSecond), stageEventsPerSecond: stages.map((r) => r.eventsPerSecond) },
      batched: {
        eventsPerRecord: EVENTS_PER_RECORD,
        records: batchedRecords,
        aggregatorEventsPerSecond: batchedStage.eventsPerSecond,
        rawKafkajsConsumeEventsPerSecond: batchedRaw.eventsPerSecond,
        aggregatorToRawConsumeRatio: +(batchedStage.eventsPerSecond / batchedRaw.eventsPerSecond).toFixed(3),
        stage: batchedStage,
        raw: batchedRaw,
      },
      inProcess: local.result,
      inProcessStage: localStage,
      // The stage without Kafka or PostgreSQL at the headline's shape: what the apply path costs.
      inProcessStageBatched: localStageBatched,
      inputBytesPerEvent: +(raw.bytes / EVENTS).toFixed(1),
      snapshotBytesPerInputByte: +(stage.snapshotBytesPublished / raw.bytes).toFixed(3),
      memory: mem,
      histogram,
    };
    progress('done');
    console.log(JSON.stringify(figures));
  } finally {
    for (const run of [1, 2, 3]) {
      await pool.query(`DROP SCHEMA IF EXISTS "${id}_${run}" CASCADE`).catch((err) => progress(`drop schema: ${String(err)}`));
    }
    await pool.end();
    const kafka = new kafkajs.Kafka({ brokers: BROKERS, clientId: `${id}-cleanup`, logLevel: kafkajs.logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [...Object.values(topics), batchedTopic] }).catch((err) => progress(`delete topics: ${String(err)}`));
    await admin.disconnect();
    await log.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
