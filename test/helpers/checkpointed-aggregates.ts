// The aggregates of a distributed run as its aggregators left them: waits until every partition's
// checkpoint in PostgreSQL covers the whole events topic, restores each partition's state and
// sums one feature's cohorts. Checkpoints, not the published cohort-stats snapshots, because a
// snapshot is taken only when the watermark crosses a verdict step, so the last records of a run
// need not be in one.

import kafkajs from 'kafkajs';
import type pg from 'pg';
import { PartitionAggregator } from '../../src/aggregation/partition-aggregator.js';
import type { RuleSet } from '../../src/rules/schema.js';
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
  eventsTopic: string;
  rules: RuleSet;
  feature: string;
  timeoutMs?: number;
}

export async function checkpointedAggregates(o: CheckpointedAggregatesOptions): Promise<CheckpointedAggregates> {
  const kafka = new kafkajs.Kafka({ brokers: o.brokers, clientId: 'pmf-test-aggregates', logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, string>;
  try {
    ends = new Map((await admin.fetchTopicOffsets(o.eventsTopic)).map((p) => [p.partition, p.high]));
  } finally {
    await admin.disconnect();
  }
  const read = async () =>
    (
      await o.pool.query<{ partition: number; next_offset: string; state: Buffer }>(
        `SELECT partition, next_offset::text AS next_offset, state FROM "${o.schema}".stream_checkpoints WHERE stage = 'aggregator' AND topic = $1`,
        [o.eventsTopic],
      )
    ).rows;
  let rows: Awaited<ReturnType<typeof read>> = [];
  await waitFor(
    async () => {
      rows = await read().catch(() => []); // PostgreSQL may still be coming back from a fault
      const at = new Map(rows.map((r) => [r.partition, r.next_offset]));
      return [...ends].every(([p, end]) => end === '0' || at.get(p) === end);
    },
    { timeoutMs: o.timeoutMs ?? 120_000, intervalMs: 500, message: `aggregator checkpoints at the end of ${o.eventsTopic} (${JSON.stringify([...ends])})` },
  );
  const result: CheckpointedAggregates = { cohorts: {}, duplicates: 0, latencyUnjoined: 0, tooLate: 0 };
  for (const r of rows) {
    const agg = PartitionAggregator.restore(r.state, { rules: o.rules, partition: r.partition });
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
