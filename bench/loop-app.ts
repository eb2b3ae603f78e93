// The loop benchmark's pmf-guard: every role in this process on the local stack (Kafka,
// PostgreSQL, Redis), with its own topics, consumer groups, schema and Redis key prefix so runs
// never collide, and a rules file written for the run. Also answers "has every stage consumed
// and checkpointed everything sent so far?" from the stored checkpoints and the topics' ends.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { stringify } from 'yaml';
import { buildApp, type App } from '../src/app/build-app.js';
import { loadConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { createLogger } from '../src/core/logger.js';
import { KafkaLog } from '../src/log/kafka/kafka-log.js';
import { loadRulesFile } from '../src/config/rules-file.js';
import { DASHBOARD_SPAN } from './loop-spans.js';
import { readEngineCheckpoint } from '../src/verdict/engine-checkpoint.js';
import { silentLogger } from '../src/core/logger.js';

const env = (name: string, fallback: string) => process.env[name]?.trim() || fallback;
export const services = {
  databaseUrl: env('PMF_BENCH_DATABASE_URL', env('PMF_TEST_DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/postgres')),
  redisUrl: env('PMF_BENCH_REDIS_URL', env('PMF_TEST_REDIS_URL', 'redis://127.0.0.1:6379')),
  kafkaBrokers: env('PMF_BENCH_KAFKA_BROKERS', env('PMF_TEST_KAFKA_BROKERS', '127.0.0.1:9092')),
};

export interface LoopAppOptions {
  features: string[];
  minCohortSize: number;
  evaluationWindowSeconds: number;
  checkpointIntervalMs: number;
  partitions: number;
  /** verdict.stepSeconds and aggregation.allowedLatenessSeconds; absent = the config's defaults. */
  stepSeconds?: number;
  allowedLatenessSeconds?: number;
}

export interface EngineView {
  exposed: number;
  /** Outcome of the last verdict the engine published for the cohort. */
  lastOutcome: string | null;
  /** Whether any guard of the cohort has failed (the engine's evaluator memory). */
  failed: boolean;
  /** Watermark of each source partition's partial the engine holds (as of the last step it judged). */
  watermarks: Map<number, number>;
  /** The highest step each source partition has reported for the feature. */
  reported: Map<number, number>;
}

/** Each source partition's watermark (ms), from the app's own /metrics. */
export async function partitionWatermarks(adminPort: number): Promise<Map<number, number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const out = new Map<number, number>();
  for (const m of text.matchAll(/^pmf_aggregator_watermark_seconds\{partition="(\d+)"\} (\S+)$/gm)) out.set(Number(m[1]), Math.round(Number(m[2]) * 1000));
  return out;
}

export interface LoopApp {
  app: App;
  config: Config;
  keyPrefix: string;
  /** A Kafka client of its own, for reading the app's topics. */
  reader: KafkaLog;
  /** True once the aggregator and the verdict engine have checkpointed every record on their input topics. */
  caughtUp(): Promise<boolean>;
  /**
   * What the verdict engine holds for a cohort, read from its stored checkpoint: the exposures
   * summed over the partials it merged (the published verdict may be older: an unchanged outcome
   * waits for the event-time heartbeat), each partial's watermark, and whether a guard failed.
   */
  engineView(feature: string, cohort: string): Promise<EngineView>;
  close(): Promise<void>;
}

function rulesYaml(o: LoopAppOptions): string {
  return stringify({
    version: 'bench-loop',
    rules: o.features.map((featureId) => ({
      featureId,
      activationThreshold: 0.15,
      retentionThreshold: 0.4,
      latencyP95Threshold: 200,
      minCohortSize: o.minCohortSize,
      evaluationWindowSeconds: o.evaluationWindowSeconds,
      activation: { action: { spanName: 'recs.click' }, windowSeconds: 86_400 },
      retention: { returnAfterSeconds: 86_400, windowSeconds: 604_800 },
      latency: { spanName: DASHBOARD_SPAN },
      cohorts: { control: 'control', guarded: ['treatment'] },
      alpha: 0.05,
      mode: 'enforce',
    })),
  });
}

export async function startLoopApp(o: LoopAppOptions): Promise<LoopApp> {
  const id = `bench_loop_${o.checkpointIntervalMs}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const schema = `pmf_${id}`;
  const keyPrefix = `${id}:`;
  const dir = mkdtempSync(join(tmpdir(), 'pmf-bench-loop-'));
  const rulesFile = join(dir, 'rules.yaml');
  writeFileSync(rulesFile, rulesYaml(o));
  const loaded = loadConfig({
    env: {
      KAFKA_BROKERS: services.kafkaBrokers,
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      PMF_GUARD_TOPIC_PREFIX: `${id}.`,
      PMF_GUARD_DATABASE_SCHEMA: schema,
      PMF_GUARD_REDIS_KEY_PREFIX: keyPrefix,
      PMF_GUARD_PSEUDONYM_KEY: randomBytes(32).toString('hex'),
      PMF_GUARD_COMMAND_KEY: randomBytes(32).toString('hex'),
      PMF_GUARD_DATA_DIR: dir,
      PMF_GUARD_OTLP_GRPC_PORT: '0',
      PMF_GUARD_OTLP_HTTP_PORT: '0',
      PMF_GUARD_ADMIN_PORT: '0',
    },
    rulesFile,
  });
  const config: Config = {
    ...loaded,
    kafka: { ...loaded.kafka, groupPrefix: id, partitions: o.partitions },
    // No idle-partition markers: the benchmark moves each partition's watermark itself, and the
    // decisive record must be the trigger span. A marker written to the trigger's partition while
    // the run waits (receiver.markIdleMs, 5 s by default) judged the step before the trigger was
    // sent, so markers are turned off here explicitly.
    receiver: { ...loaded.receiver, markIdleMs: 0 },
    aggregation: {
      ...loaded.aggregation,
      checkpointIntervalMs: o.checkpointIntervalMs,
      allowedLatenessSeconds: o.allowedLatenessSeconds ?? loaded.aggregation.allowedLatenessSeconds,
    },
    verdict: { ...loaded.verdict, stepSeconds: o.stepSeconds ?? loaded.verdict.stepSeconds },
  };
  // Warnings and errors of the app stay visible: a benchmark that hides a failing stage lies.
  const app = await buildApp(config, await loadRulesFile(rulesFile), { logger: createLogger('warn') });
  await app.start();
  const reader = new KafkaLog({ logger: silentLogger, brokers: services.kafkaBrokers.split(','), clientId: `${id}-reader`, logLevel: 'error' });
  const pool = new pg.Pool({ connectionString: services.databaseUrl, max: 2 });

  const checkpointed = async (stage: string, topic: string): Promise<boolean> => {
    const ends = await reader.endOffsets(topic);
    const { rows } = await pool.query<{ partition: number; next_offset: string }>(
      `SELECT partition, next_offset::text AS next_offset FROM ${schema}.stream_checkpoints WHERE stage = $1 AND topic = $2`,
      [stage, topic],
    );
    const at = new Map(rows.map((r) => [r.partition, BigInt(r.next_offset)]));
    return [...ends].every(([p, end]) => (at.get(p) ?? 0n) >= BigInt(end));
  };

  const engineView = async (feature: string, cohort: string): Promise<EngineView> => {
    const { rows } = await pool.query<{ partition: number; state: Buffer }>(
      `SELECT partition, state FROM ${schema}.stream_checkpoints WHERE stage = 'verdict' AND topic = $1`,
      [app.topics.cohortStats],
    );
    for (const { partition, state } of rows) {
      const { rows: parts } = await pool.query<{ part: number; seq: string; data: Buffer }>(
        `SELECT part, seq::text AS seq, data FROM ${schema}.stream_checkpoint_parts WHERE stage = 'verdict' AND topic = $1 AND partition = $2 ORDER BY part, seq`,
        [app.topics.cohortStats, partition],
      );
      const s = readEngineCheckpoint(state, parts);
      const partials = s.partials[feature] ?? {};
      const reported = new Map(Object.entries(s.steps[feature]?.reported ?? {}).map(([p, step]) => [Number(p), step]));
      if (!s.partials[feature] && reported.size === 0) continue;
      const exposed = Object.values(partials).reduce((n, p) => n + (p.cohorts.find((c) => c.cohort === cohort)?.exposed ?? 0), 0);
      const memory = s.memory[`${feature}\u0000${cohort}`];
      return {
        exposed,
        lastOutcome: memory?.lastOutcome ?? null,
        failed: Object.keys(memory?.evaluator.failed ?? {}).length > 0,
        watermarks: new Map(Object.values(partials).map((p) => [p.partition, p.watermark])),
        reported,
      };
    }
    return { exposed: 0, lastOutcome: null, failed: false, watermarks: new Map(), reported: new Map() };
  };

  return {
    app,
    config,
    engineView,
    keyPrefix,
    reader,
    // The aggregator first: its checkpoint is saved only after its partials were acknowledged,
    // so once it is caught up the cohort-stats topic's end is final for the verdict check.
    caughtUp: async () => (await checkpointed('aggregator', app.topics.events)) && checkpointed('verdict', app.topics.cohortStats),
    async close() {
      await app.stop();
      await reader.close();
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
      const redis = new Redis(services.redisUrl);
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await deleteTopics(Object.values(app.topics));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function deleteTopics(topics: string[]): Promise<void> {
  const admin = new kafkajs.Kafka({ brokers: services.kafkaBrokers.split(','), clientId: 'bench-loop-cleanup', logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}
