// The aggregates of a distributed run as its aggregators left them: waits until every partition's
// checkpoint in PostgreSQL covers the whole events topic, restores each partition's state and
// sums one feature's cohorts. Checkpoints, not the published cohort-stats snapshots, because a
// snapshot is taken only when the watermark crosses a verdict step, so the last records of a run
// need not be in one.

import kafkajs from 'kafkajs';
import type pg from 'pg';
import type { Topics } from '../../src/events/topics.js';
import type { RuleSet } from '../../src/rules/schema.js';
import { PgSqlClient } from '../../src/store/pg-sql-client.js';
import { SqlCheckpointStore } from '../../src/store/sql-checkpoint-store.js';
import type { Checkpoint } from '../../src/stream/checkpoint-store.js';
import { aggregatorProcessorFactory, type AggregatorProcessor } from '../../src/stream/aggregator-processor.js';
import { waitFor } from './services.js';

export interface CheckpointedAggregates {
  /** Per cohort: users exposed, and requests recorded for the latency guard. */
  cohorts: Record<string, { exposed: number; requests: number }>;
  /** The aggregators' counters that explain a difference: duplicates dropped, requests that found no exposure. */
  duplicates: number;
  latencyUnjoined: number;
  tooLate: number;
}

export interface CheckpointedAggregatesOptions {
  pool: pg.Pool;
  /** PostgreSQL schema of the stream_checkpoints table. */
  schema: string;
  brokers: string[];
  topics: Topics;
  rules: RuleSet;
  feature: string;
  timeoutMs?: number;
}

export async function checkpointedAggregates(o: CheckpointedAggregatesOptions): Promise<CheckpointedAggregates> {
  const kafka = new kafkajs.Kafka({ brokers: o.brokers, clientId: 'pmf-test-aggregates', logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const eventsTopic = o.topics.events;
  const store = new SqlCheckpointStore(new PgSqlClient(o.pool), o.schema);
  // The topic's end is read again at every attempt: a receiver's watermark markers (written a
  // while after the last data, to partitions it left quiet) move it on after the data has landed.
  let ends = new Map<number, string>();
  // Head and part rows in one snapshot per partition, restored the way the runner restores them.
  const read = async () => {
    const found = new Map<number, Checkpoint>();
    for (const p of ends.keys()) {
      const cp = await store.load('aggregator', eventsTopic, p);
      if (cp) found.set(p, cp);
    }
    return found;
  };
  let checkpoints = new Map<number, Checkpoint>();
  try {
    await waitFor(
      async () => {
        ends = new Map((await admin.fetchTopicOffsets(eventsTopic)).map((p) => [p.partition, p.high]));
        checkpoints = await read().catch(() => new Map()); // PostgreSQL may still be coming back from a fault
        return [...ends].every(([p, end]) => end === '0' || checkpoints.get(p)?.offset === end);
      },
      { timeoutMs: o.timeoutMs ?? 120_000, intervalMs: 500, message: `aggregator checkpoints at the end of ${eventsTopic}`, describe: () => ({ ends: [...ends], checkpoints: [...checkpoints].map(([p, c]) => [p, c.offset]) }) },
    );
  } finally {
    await admin.disconnect();
  }
  const result: CheckpointedAggregates = { cohorts: {}, duplicates: 0, latencyUnjoined: 0, tooLate: 0 };
  const factory = aggregatorProcessorFactory(o.topics, 60_000, () => ({ rules: o.rules }));
  for (const [partition, cp] of checkpoints) {
    const agg = ((await factory.restore(partition, cp.state, cp.parts ?? [])) as AggregatorProcessor).aggregator;
    for (const c of agg.snapshot()) {
      if (c.feature !== o.feature) continue;
      const sum = (result.cohorts[c.cohort] ??= { exposed: 0, requests: 0 });
      sum.exposed += c.exposed;
      sum.requests += c.latency.count;
    }
    const stats = agg.stats();
    result.duplicates += stats.duplicates;
    result.latencyUnjoined += stats.latencyUnjoined;
    result.tooLate += stats.tooLate;
  }
  return result;
}
