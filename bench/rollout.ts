// Rollout loop benchmark: from the cohort-stats record that makes a stage's evidence decisive to
// the allocation change in Redis (the change notice, with the hash then showing the next stage's
// allocation). Everything after the aggregator is real and in this process on the local stack:
// Kafka (pmf.cohort-stats.v1 → verdict stage → pmf.commands.v1), the flag writer's PostgreSQL
// transaction, the outbox and the version-forward Redis script. The spans-to-statistics part is
// what bench/loop.ts measures; here each decisive step is written straight to the topic, as the
// aggregators write it: one step snapshot per source partition.
//
// In-run baseline, same app, same path: a feature without a rollout whose decisive record fails
// it, measured to its rollback in Redis (treatment=off). The ratio says what ramping adds.
//
// Run: npm run bench:rollout        (needs: bash scripts/stack.sh up)
// Env: PMF_BENCH_FEATURES (40 per kind), PMF_BENCH_KAFKA_BROKERS / _DATABASE_URL / _REDIS_URL.
// The last line printed is one JSON object with every number.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { buildApp } from '../src/app/build-app.js';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/core/logger.js';
import { encodeJson } from '../src/events/codec.js';
import type { CohortPartial } from '../src/events/cohort-stats.js';
import type { FeaturePartial } from '../src/events/feature-partial.js';
import { LatencyHistogram } from '../src/events/latency-histogram.js';
import { flagChannel, flagKey } from '../src/flags/redis-keys.js';
import { KafkaLog } from '../src/log/kafka/kafka-log.js';
import { parseRules } from '../src/rules/load.js';
import { waitFor } from '../test/helpers/services.js';

const env = (name: string, fallback: string) => process.env[name]?.trim() || fallback;
const services = {
  databaseUrl: env('PMF_BENCH_DATABASE_URL', env('PMF_TEST_DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/postgres')),
  redisUrl: env('PMF_BENCH_REDIS_URL', env('PMF_TEST_REDIS_URL', 'redis://127.0.0.1:6379')),
  kafkaBrokers: env('PMF_BENCH_KAFKA_BROKERS', env('PMF_TEST_KAFKA_BROKERS', '127.0.0.1:9092')),
};
const FEATURES = Number(env('PMF_BENCH_FEATURES', '40'));
const WINDOW_S = 600;
const MIN_COHORT = 200;

const rolloutFeature = (i: number) => `ramp_${i}`;
const baselineFeature = (i: number) => `plain_${i}`;

function rules(): string {
  const base = {
    activationThreshold: 0.1, retentionThreshold: 0.3, latencyP95Threshold: 300, minCohortSize: MIN_COHORT, evaluationWindowSeconds: WINDOW_S,
    retention: { returnAfterSeconds: 60, windowSeconds: 600 },
  };
  return JSON.stringify({
    version: 'bench-rollout',
    rules: [
      ...Array.from({ length: FEATURES }, (_, i) => ({
        ...base, featureId: rolloutFeature(i),
        cohorts: { control: 'control', guarded: ['treatment'] },
        rollout: { stages: [{ percent: 1 }, { percent: 10 }, { percent: 100 }], advanceWhen: 'no-regression' },
      })),
      ...Array.from({ length: FEATURES }, (_, i) => ({ ...base, featureId: baselineFeature(i), cohorts: { control: 'control', guarded: ['treatment'] } })),
    ],
  });
}

function cohort(feature: string, name: string, exposed: number, latencyMs: number, offset: string, at: number, firstAt: number): CohortPartial {
  const h = new LatencyHistogram();
  h.record(latencyMs, 2 * exposed);
  const slow = latencyMs > 300 ? 2 * exposed : 0;
  return {
    feature, cohort: name, partition: 0, offset, watermark: at, firstExposureAt: firstAt, exposed,
    activation: { matured: 0, successes: 0 }, retention: { matured: exposed, successes: exposed },
    latency: { count: 2 * exposed, slow, users: exposed, sumN2: 4 * exposed, sumSlow2: slow * 2, sumNSlow: slow * 2, histogram: h.serialize().toString('base64') },
    cohortSwitches: 0,
  };
}

// What the aggregators publish: when a source partition's watermark crosses a multiple of
// verdict.stepSeconds, a snapshot tagged with that step; the engine judges the step once every
// source partition has reported it. So each record here is one step snapshot per partition.
const PARTITIONS = 3;
function partials(feature: string, offset: number, at: number, firstAt: number, treatmentMs: number, exposed: number, controlPerTreatment: number, stepMs: number): FeaturePartial[] {
  const o = String(offset);
  const each = Math.ceil(exposed / PARTITIONS);
  const step = Math.floor(at / stepMs) * stepMs;
  return Array.from({ length: PARTITIONS }, (_, partition) => ({
    feature, partition, offset: o, watermark: at, step,
    cohorts: [cohort(feature, 'control', each * controlPerTreatment, 120, o, at, firstAt), cohort(feature, 'treatment', each, treatmentMs, o, at, firstAt)].map((c) => ({ ...c, partition })),
  }));
}

function summary(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  return { n: s.length, p50: round(at(50)), p90: round(at(90)), p99: round(at(99)), max: round(s[s.length - 1]), mean: round(s.reduce((a, b) => a + b, 0) / s.length) };
}
const round = (x: number) => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  const id = `bench_rollout_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'pmf-bench-rollout-'));
  const loaded = loadConfig({
    env: {
      KAFKA_BROKERS: services.kafkaBrokers, DATABASE_URL: services.databaseUrl, REDIS_URL: services.redisUrl,
      PMF_GUARD_TOPIC_PREFIX: `${id}.`, PMF_GUARD_DATABASE_SCHEMA: `pmf_${id}`, PMF_GUARD_REDIS_KEY_PREFIX: `${id}:`,
      PMF_GUARD_PSEUDONYM_KEY: randomBytes(32).toString('hex'), PMF_GUARD_COMMAND_KEY: randomBytes(32).toString('hex'), PMF_GUARD_DATA_DIR: dir,
      PMF_GUARD_OTLP_GRPC_PORT: '0', PMF_GUARD_OTLP_HTTP_PORT: '0', PMF_GUARD_ADMIN_PORT: '0',
    },
  });
  const app = await buildApp({ ...loaded, kafka: { ...loaded.kafka, groupPrefix: id, partitions: PARTITIONS } }, parseRules(rules()), { logger: silentLogger });
  await app.start();
  const kafka = new KafkaLog({ brokers: services.kafkaBrokers.split(','), clientId: `${id}-bench`, logger: silentLogger });
  const producer = kafka.producer(`${id}-bench`);
  await producer.start();
  const redis = new Redis(services.redisUrl);
  const sub = redis.duplicate();
  const notices = new Map<string, number[]>();
  sub.on('message', (_channel: string, feature: string) => {
    const list = notices.get(feature) ?? [];
    list.push(performance.now());
    notices.set(feature, list);
  });
  await sub.subscribe(flagChannel(`${id}:`));
  const key = (f: string) => flagKey(f, `${id}:`);

  const T0 = Date.now() - 24 * 3600_000;
  let offset = 0;
  // Control and treatment are assigned equal shares (no cohorts.expectedShares), and at stage 1 the
  // treatment serves 1 % of its share, the rest going to the control: 99.5 % / 0.5 %, so the control
  // gets 199 users for each treatment user, which is what the SRM check expects. The plain features
  // have no rollout: 1 for 1.
  const stepMs = app.config.verdict.stepSeconds * 1000;
  const measure = async (feature: string, slot: number, treatmentMs: number, controlPerTreatment: number, done: (h: Record<string, string>) => boolean) => {
    const first = T0 + slot * 2 * WINDOW_S * 1000;
    // Gates closed: a pending verdict, no command. Then wait until the stage has taken it in.
    await producer.send(app.topics.cohortStats, partials(feature, ++offset, first + 1000, first, treatmentMs, MIN_COHORT, controlPerTreatment, stepMs).map((p) => ({ key: feature, value: encodeJson(p) })));
    await waitFor(() => app.latestVerdicts(feature, 'treatment').length > 0, { timeoutMs: 30_000, intervalMs: 2, message: `first verdict of ${feature}` });
    const before = notices.get(feature)?.length ?? 0;
    const start = performance.now();
    // Its step (the watermark rounded down to the step) is past the evaluation window, so the gates open.
    await producer.send(app.topics.cohortStats, partials(feature, ++offset, first + (WINDOW_S + 120) * 1000, first, treatmentMs, MIN_COHORT + 50, controlPerTreatment, stepMs).map((p) => ({ key: feature, value: encodeJson(p) })));
    await waitFor(async () => ((notices.get(feature)?.length ?? 0) > before && done(await redis.hgetall(key(feature))) ? true : undefined), { timeoutMs: 30_000, intervalMs: 1, message: `Redis change of ${feature}` });
    return notices.get(feature)![before] - start;
  };

  const ramp: number[] = [];
  const plain: number[] = [];
  try {
    // Interleaved, so both kinds see the same state of the machine.
    for (let i = 0; i < FEATURES; i++) {
      ramp.push(await measure(rolloutFeature(i), 2 * i, 120, 199, (h) => h['allocation:treatment'] === '10' && h.treatment === 'on'));
      plain.push(await measure(baselineFeature(i), 2 * i + 1, 900, 1, (h) => h.treatment === 'off'));
    }
  } finally {
    await sub.quit();
    await producer.stop();
    await kafka.close();
    await app.stop();
    const pool = new pg.Pool({ connectionString: services.databaseUrl, max: 1 });
    await pool.query(`DROP SCHEMA IF EXISTS pmf_${id} CASCADE`);
    await pool.end();
    const keys = await redis.keys(`${id}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
  const r = summary(ramp);
  const b = summary(plain);
  process.stdout.write(`stage advance, decisive cohort-stats record → allocation in Redis (ms): ${JSON.stringify(r)}\n`);
  process.stdout.write(`baseline rollback without a rollout, same path (ms):                ${JSON.stringify(b)}\n`);
  process.stdout.write(
    `${JSON.stringify({ bench: 'rollout', features: FEATURES, advanceMs: r, baselineRollbackMs: b, ratioP50: round(r.p50 / b.p50), ratioP99: round(r.p99 / b.p99) })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
