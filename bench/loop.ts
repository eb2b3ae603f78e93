// The loop benchmark, in two parts.
//
// (a) Pipeline: from the record that makes a step judgeable to the flag in Redis, target p99 ≤
// 250 ms under 5 k spans/s of background load. The whole app runs in this process in distributed
// mode (Kafka, PostgreSQL, Redis). For each of N features (the seed rule with a small
// minCohortSize and a 1 h evaluation window) the real OTel SDK exporter sends 59 minutes of event
// time of the seed story: the treatment is 450 ms slower, but the verdict stays pending because
// the window gate holds. Verdicts are judged at event-time steps (verdict.stepSeconds): step S is
// judgeable once every partition's watermark (slowest sender's newest event time − allowed
// lateness) has crossed it. So, with S the first step end past the gate, one span per other
// partition moves those partitions past S (the verdict must still be pending), and then ONE span
// on the last partition, at event time S + allowed lateness, carries its watermark across S: the
// decisive record. Measured: wall time from just before that export() call to the Redis change
// notice for the feature (whose hash must then say treatment=off). Baseline, same call, same run:
// the OTLP export round trip alone (export() to the receiver's OK, sent only after Kafka acked).
// Each feature's data lies in its own stretch of event time, after the previous trigger, because
// watermarks are per partition, not per feature: one feature's data must not open another's gate.
// Background load is sent at an event time inside the current feature's data, so it moves no
// watermark. Runs for each load in PMF_BENCH_LOADS.
//
// (b) End to end in live time (bench/loop-live.ts): event time = wall clock, a decisive span sent
// when its gate opens, measured to the Redis notice, with the default config and a low-latency
// one (1 s step, 1 s allowed lateness). Expected ≈ allowed lateness + U(0, step) + pipeline.
//
// Run: npm run bench:loop [-- --write-results]      (needs: bash scripts/stack.sh up)
// Env: PMF_BENCH_FEATURES (20), PMF_BENCH_USERS_PER_COHORT (300), PMF_BENCH_MIN_COHORT (200),
//      PMF_BENCH_LOADS (background spans/s for (a), "0,5000"), PMF_BENCH_INTERVALS (checkpointIntervalMs, "1000"),
//      PMF_BENCH_LIVE ("low-latency,default", or "none"), PMF_BENCH_LIVE_LOAD (5000),
//      PMF_BENCH_LIVE_LOW_FEATURES (20), PMF_BENCH_LIVE_DEFAULT_FEATURES (5),
//      PMF_BENCH_PARTITIONS (3), PMF_BENCH_PHASE (random | after-flush), PMF_BENCH_KAFKA_BROKERS / _DATABASE_URL / _REDIS_URL.
// Each sample also reports the event-loop stalls while it waited, split into on a CPU and waiting
// for one (bench/loop-stalls.ts): every role shares this process's one event loop.
// The last line printed is one JSON object with every number.

import { writeFileSync } from 'node:fs';
import { codeVersion, resultsMarkdown } from './loop-results.js';
import { runLive, type LiveRun } from './loop-live.js';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { flagKey } from '../src/flags/redis-keys.js';
import { mulberry32 } from '../test/helpers/prng.js';
import { waitFor } from '../test/helpers/services.js';
import { partitionForKey } from '../src/log/key-partition.js';
import { parseKeyRing, Pseudonymizer } from '../src/receiver/mapping/pseudonymizer.js';
import { summarize, type Summary } from './loop-measure.js';
import { openLoopClients } from './loop-clients.js';
import { partitionWatermarks, startLoopApp, type EngineView, type LoopApp } from './loop-app.js';
import { verdictSettings } from '../src/app/stage-settings.js';
import { DATA_SPAN_MS, exposureTime, userId } from './loop-spans.js';
import { stageTimes, type StageTimes, type TriggerTiming } from './loop-stages.js';
import { StallWatch, type StallFigures } from './loop-stalls.js';

const env = (name: string, fallback: string) => process.env[name]?.trim() || fallback;
const FEATURES = Number(env('PMF_BENCH_FEATURES', '20'));
const USERS_PER_COHORT = Number(env('PMF_BENCH_USERS_PER_COHORT', '300'));
const MIN_COHORT = Number(env('PMF_BENCH_MIN_COHORT', '200'));
const INTERVALS = env('PMF_BENCH_INTERVALS', '1000').split(',').map(Number);
/** Background activity in spans/s during the run; 0 = the stages idle between loops. */
const LOADS = env('PMF_BENCH_LOADS', '0,5000').split(',').map(Number);
const PARTITIONS = Number(env('PMF_BENCH_PARTITIONS', '3'));
/** `random`: the trigger lands at a random phase of the flush cycles; `after-flush`: right after the catching-up flush. */
const PHASE = env('PMF_BENCH_PHASE', 'random');
const WINDOW_SECONDS = 3600;
const TREATMENT_EXTRA_MS = 450;
/** Issue target for the pipeline part of the loop (decisive record → flag in Redis) under load. */
const TARGET_P99_MS = 250;
/** End-to-end runs in live time (bench/loop-live.ts): `low-latency` (1 s step, 1 s lateness) and/or `default`. */
const LIVE = env('PMF_BENCH_LIVE', 'low-latency,default').split(',').map((s) => s.trim()).filter((s) => s !== '' && s !== 'none');
const LIVE_LOAD = Number(env('PMF_BENCH_LIVE_LOAD', '5000'));
const LIVE_LOW_FEATURES = Number(env('PMF_BENCH_LIVE_LOW_FEATURES', '20'));
/** The default config waits 5–6 minutes per sample (all run at once, 12 s apart). */
const LIVE_DEFAULT_FEATURES = Number(env('PMF_BENCH_LIVE_DEFAULT_FEATURES', '5'));
const WRITE_RESULTS = process.argv.includes('--write-results');
/** Each feature's stretch of event time: its data, the trigger, and room before the next. */
const SLOT_MS = 70 * 60_000;

interface FeatureResult extends TriggerTiming {
  loopMs: number;
  exportMs: number;
  /** Event-loop stalls, this process's CPU during them, and GC pauses while the sample waited. */
  stalls: StallFigures;
  exposuresInPendingVerdict: number;
}

async function runConfig(checkpointIntervalMs: number, backgroundSpansPerSecond: number) {
  const features = Array.from({ length: FEATURES }, (_, i) => `feat_loop_${i}`);
  const loop: LoopApp = await startLoopApp({ features, minCohortSize: MIN_COHORT, evaluationWindowSeconds: WINDOW_SECONDS, checkpointIntervalMs, partitions: PARTITIONS });
  const { app, config, keyPrefix } = loop;
  let currentStart = 0;
  // Activity half an hour into the current feature's data: accepted (inside the lateness horizon),
  // never past the watermark that the feature's own data sets, so it opens no gate.
  const { traffic, background, redis, notices, close } = await openLoopClients(loop, backgroundSpansPerSecond, () => currentStart + 30 * 60_000);
  const lateMs = config.aggregation.allowedLatenessSeconds * 1000;
  const stepMs = verdictSettings(config).stepMs;
  const ranWith = {
    checkpointIntervalMs: config.aggregation.checkpointIntervalMs,
    // The verdict runner flushes on the same setting (src/app/build-app.ts).
    verdictFlushMs: config.aggregation.checkpointIntervalMs,
    allowedLatenessSeconds: config.aggregation.allowedLatenessSeconds,
    lateGraceSeconds: config.aggregation.lateGraceSeconds,
    stepSeconds: config.verdict.stepSeconds,
    heartbeatSeconds: config.verdict.heartbeatSeconds,
    evaluator: config.verdict.evaluator,
    partitions: config.kafka.partitions,
    // Not in the config: src/log/kafka/kafka-log.ts defaults, which build-app does not override.
    kafkaConsumerMaxWaitMs: 1000,
    kafkaProducerAcks: 'all',
    role: config.role,
    features: FEATURES,
    usersPerCohort: USERS_PER_COHORT,
    minCohortSize: MIN_COHORT,
    evaluationWindowSeconds: WINDOW_SECONDS,
    triggerPhase: PHASE,
    backgroundSpansPerSecond,
  };
  console.log(`\n== checkpointIntervalMs ${checkpointIntervalMs}, background ${backgroundSpansPerSecond} spans/s: app config ${JSON.stringify(ranWith)}`);
  const results: FeatureResult[] = [];
  const phase = mulberry32(7);
  // Where the receiver's producer puts a user's events: the pseudonym (the record key) through
  // Kafka's default partitioner.
  const pseudonymizer = new Pseudonymizer(parseKeyRing(config.receiver.pseudonymKey!));
  const partitionOf = (feature: string, user: number) => partitionForKey(pseudonymizer.pseudonymize(userId(feature, user)), config.kafka.partitions);
  const otherPartitions = (feature: string, except: number) => {
    const found = new Map<number, number>();
    for (let u = 0; u < 2 * USERS_PER_COHORT && found.size < config.kafka.partitions - 1; u++) {
      const p = partitionOf(feature, u);
      if (p !== except && !found.has(p)) found.set(p, u);
    }
    return [...found].map(([partition, user]) => ({ partition, user }));
  };
  /** Waits until the stages settled on what was sent: caught up (when idle), `ready`, no guard failed, pending. */
  const settled = (feature: string, ready: (v: EngineView) => Promise<boolean>, what: string) =>
    waitFor(
      async () => {
        if (backgroundSpansPerSecond === 0 && !(await loop.caughtUp())) return undefined;
        const v = await loop.engineView(feature, 'treatment');
        if (v.failed) throw new Error(`${feature}: a guard failed before the trigger`);
        return (await ready(v)) && v.lastOutcome === 'pending' ? v : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 20, message: `${feature}: ${what}, verdict pending` },
    );
  const watch = new StallWatch();
  watch.start();
  try {
    // All event time lies in the past (the receiver refuses far-future timestamps), whole seconds.
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    const base = Math.floor((Date.now() - FEATURES * SLOT_MS - 2 * 3600_000) / 1000) * 1000;

    for (const [i, feature] of features.entries()) {
      const startMs = base + i * SLOT_MS;
      currentStart = startMs;
      // The gate is per cohort: it opens a window after the treatment's first exposure.
      const gateOpensAtMs = exposureTime({ startMs, usersPerCohort: USERS_PER_COHORT }, 1) + WINDOW_SECONDS * 1000;
      await traffic.exportAll(traffic.featureData({ feature, startMs, usersPerCohort: USERS_PER_COHORT, treatmentExtraMs: TREATMENT_EXTRA_MS, seed: 1000 + i }));
      if (i === 0) background.start();

      // Verdicts are judged at event-time steps: step S (the first step end at or after the gate)
      // is judgeable once every partition's watermark has crossed S. The decisive record is the
      // one that carries the LAST partition across S. First every other partition is moved to
      // exactly S (one dashboard load each at S + allowed lateness); the verdict must still be
      // pending, because the trigger partition has not crossed S.
      const stepS = Math.ceil(gateOpensAtMs / stepMs) * stepMs;
      const trigger = { user: 1, partition: partitionOf(feature, 1) };
      const others = otherPartitions(feature, trigger.partition);
      // One second past S + lateness for the others, exactly S + lateness for the trigger: the
      // trigger's event time is then its own (bench/loop-stages.ts finds its event by it).
      const advanceEventMs = stepS + lateMs + 1000;
      await traffic.export(others.map((o) => traffic.dashboardSpan(feature, o.user, advanceEventMs, 600)));
      // The history's newest events lie about a minute past DATA_SPAN_MS: the trigger partition
      // must have applied its history (watermark near its end) and still be short of S.
      const historyWatermarkMs = startMs + DATA_SPAN_MS - 60_000 - lateMs;
      const view = await settled(
        feature,
        async (v) => {
          const w = await partitionWatermarks(app.adminPort());
          const tw = w.get(trigger.partition) ?? Number.NEGATIVE_INFINITY;
          return others.every((o) => (w.get(o.partition) ?? 0) >= stepS && (v.reported.get(o.partition) ?? 0) >= stepS) && tw >= historyWatermarkMs && tw < stepS;
        },
        `partitions ${others.map((o) => o.partition).join(', ')} reported step ${new Date(stepS).toISOString()}, partition ${trigger.partition} has its history and is short of it`,
      );
      const published = app.latestVerdicts(feature, 'treatment');
      if (!published.some((v) => v.outcome === 'pending')) throw new Error(`${feature}: no pending treatment verdict published before the trigger`);
      const before = await redis.hget(flagKey(feature, keyPrefix), 'treatment');
      if (before !== 'on') throw new Error(`${feature}: treatment flag is ${before} before the trigger, expected on`);

      // A decisive span arrives at any moment of the stages' flush cycles, not right after the
      // flush that made the run caught up (that phase alone would be the worst case for the
      // verdict stage): pause for a random part of two cycles. This picks the arrival phase; it is
      // not a wait for a condition.
      if (PHASE === 'random') await delay(Math.floor(phase() * 2 * checkpointIntervalMs));

      // The trigger: a slow dashboard load of a treatment user that moves the last partition to S.
      const triggerEventMs = stepS + lateMs;
      const span = traffic.dashboardSpan(feature, trigger.user, triggerEventMs, 600);
      const notice = notices.next(feature, 60_000);
      const t0 = performance.now();
      const exportStartWallMs = performance.timeOrigin + t0;
      const exported = traffic.export([span]).then(() => performance.now());
      const noticeWallMs = await notice.catch(async (err: Error) => {
        // Say why: what the engine holds, and the last verdict it published.
        const [v] = app.latestVerdicts(feature, 'treatment');
        const e = await loop.engineView(feature, 'treatment');
        const iso = (ms: number) => new Date(ms).toISOString();
        throw new Error(
          `${err.message}; gate opens ${iso(gateOpensAtMs)}, trigger at ${iso(triggerEventMs)} on partition ${trigger.partition}; ` +
            `engine checkpoint: ${e.exposed} exposed, guard failed ${e.failed}, watermarks ${JSON.stringify([...e.watermarks].map(([p, w]) => [p, iso(w)]))}; ` +
            `last published verdict: ${v ? `${v.outcome} at ${v.evaluatedAt}: ${v.reason}` : 'none'}`,
        );
      });
      const loopMs = noticeWallMs - exportStartWallMs;
      const exportMs = (await exported) - t0;

      const hash = await redis.hgetall(flagKey(feature, keyPrefix));
      if (hash.treatment !== 'off') throw new Error(`${feature}: change notice arrived but the hash is ${JSON.stringify(hash)}`);
      results.push({
        feature, triggerEventMs, triggerPartition: trigger.partition, gateOpensAtMs, exportStartWallMs, noticeWallMs, loopMs, exportMs,
        stalls: watch.window(exportStartWallMs, noticeWallMs),
        exposuresInPendingVerdict: view.exposed,
      });
      const st = results[results.length - 1].stalls;
      console.log(`${feature}: loop ${loopMs.toFixed(1)} ms, export ${exportMs.toFixed(1)} ms, stalls ${st.stallMs} ms (on a CPU ${st.onCpuMs}, waiting for one ${st.runQueueMs}), GC ${st.gcMs} ms, hash ${JSON.stringify(hash)}`);
    }
    // Sanity: the data really sat one minute short of the window until the trigger.
    if (DATA_SPAN_MS >= WINDOW_SECONDS * 1000) throw new Error('feature data would open the gate by itself');

    await background.stop();
    // The cost side of a shorter interval: this process's CPU (app, load and bench together) and
    // the checkpoints each stage wrote, per wall-clock second of the run.
    const cpu = process.cpuUsage(cpu0);
    const seconds = (performance.now() - wall0) / 1000;
    const checkpoints = await stageCheckpoints(app.adminPort());
    const cost = {
      runSeconds: Math.round(seconds * 10) / 10,
      processCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / seconds) * 1000) / 10,
      aggregatorCheckpointsPerSecond: Math.round((checkpoints.aggregator / seconds) * 10) / 10,
      verdictCheckpointsPerSecond: Math.round((checkpoints.verdict / seconds) * 10) / 10,
    };
    const stages = await stageTimes(loop.reader, app.topics, results);
    const loopSummary = summarize(results.map((r) => r.loopMs));
    const exportSummary = summarize(results.map((r) => r.exportMs));
    const ratio = (k: keyof Summary) => Math.round((loopSummary[k] / exportSummary[k]) * 10) / 10;
    const stageSummary = summarizeStages(stages);
    const stalls = stallSummary(results, watch);
    const run = {
      checkpointIntervalMs,
      backgroundSpansPerSecond,
      backgroundSpansSent: background.sent,
      backgroundExportFailures: background.failedExports,
      config: ranWith,
      loopMs: loopSummary,
      exportBaselineMs: exportSummary,
      ratioLoopToExport: { p50: ratio('p50'), p99: ratio('p99') },
      stagesMs: stageSummary,
      stalls,
      cost,
      exposuresInPendingVerdict: summarize(results.map((r) => r.exposuresInPendingVerdict)),
      targetP99Ms: TARGET_P99_MS,
      targetMet: loopSummary.p99 <= TARGET_P99_MS,
    };
    console.log(`loop (export → Redis notice) ms: ${JSON.stringify(loopSummary)}`);
    console.log(`baseline (export → receiver OK) ms: ${JSON.stringify(exportSummary)}`);
    console.log(`ratio loop/export: p50 ${run.ratioLoopToExport.p50}×, p99 ${run.ratioLoopToExport.p99}×`);
    console.log('per stage, ms after the export call (p50 / p90 / max), and the increments:');
    for (const [name, s] of Object.entries(stageSummary)) console.log(`  ${name.padEnd(34)} ${s.p50} / ${s.p90} / ${s.max}`);
    console.log(`event-loop stalls (samples over / under the target): ${JSON.stringify(stalls)}`);
    console.log(`cost: ${JSON.stringify(cost)}`);
    console.log(`target p99 ≤ ${TARGET_P99_MS} ms: ${run.targetMet ? 'met' : 'NOT met'}`);
    return run;
  } finally {
    watch.stop();
    await close();
  }
}

/**
 * Stalls of the samples over the target against those under it (mean per sample), and the whole
 * run's: a slow sample whose stalls were mostly spent waiting for a CPU waited for the machine, not
 * for a stage's work.
 */
function stallSummary(results: FeatureResult[], watch: StallWatch) {
  const mean = (rs: FeatureResult[], f: (s: StallFigures) => number) => (rs.length === 0 ? null : Math.round((rs.reduce((n, r) => n + f(r.stalls), 0) / rs.length) * 10) / 10);
  const group = (rs: FeatureResult[]) => ({
    samples: rs.length,
    meanStallMs: mean(rs, (s) => s.stallMs),
    meanOnCpuMs: mean(rs, (s) => s.onCpuMs),
    meanRunQueueMs: mean(rs, (s) => s.runQueueMs),
    meanGcMs: mean(rs, (s) => s.gcMs),
    meanMajorGcMs: mean(rs, (s) => s.majorGcMs),
  });
  return {
    overTarget: group(results.filter((r) => r.loopMs > TARGET_P99_MS)),
    underTarget: group(results.filter((r) => r.loopMs <= TARGET_P99_MS)),
    run: watch.total(),
  };
}

/** Checkpoints written per stage, from the app's own Prometheus counters. */
async function stageCheckpoints(adminPort: number): Promise<Record<'aggregator' | 'verdict', number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const read = (stage: string) => Number(new RegExp(`^pmf_stage_checkpoints_total\\{stage="${stage}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { aggregator: read('aggregator'), verdict: read('verdict') };
}

function summarizeStages(stages: StageTimes[]): Record<string, Summary> {
  const col = (f: (s: StageTimes) => number) => summarize(stages.map(f));
  return {
    'at: event produced': col((s) => s.eventProduced),
    'at: decisive partial published': col((s) => s.partialPublished),
    'at: fail verdict published': col((s) => s.verdictPublished),
    'at: rollback command published': col((s) => s.commandPublished),
    'at: Redis notice': col((s) => s.redisNotice),
    'Δ receiver (export → produce)': col((s) => s.eventProduced),
    'Δ aggregator (event → partial)': col((s) => s.partialPublished - s.eventProduced),
    'Δ verdict (partial → command)': col((s) => s.commandPublished - s.partialPublished),
    'Δ flag writer (command → Redis)': col((s) => s.redisNotice - s.commandPublished),
  };
}

export type PipelineRun = Awaited<ReturnType<typeof runConfig>>;

async function main() {
  const runs: PipelineRun[] = [];
  for (const load of LOADS) for (const interval of INTERVALS) runs.push(await runConfig(interval, load));
  const live: LiveRun[] = [];
  for (const name of LIVE) {
    const knobs = name === 'default' ? {} : { stepSeconds: 1, allowedLatenessSeconds: 1 };
    const features = name === 'default' ? LIVE_DEFAULT_FEATURES : LIVE_LOW_FEATURES;
    const spacingMs = name === 'default' ? 12_000 : 1500;
    live.push(await runLive({ name, ...knobs, features, spacingMs, backgroundSpansPerSecond: LIVE_LOAD, usersPerCohort: USERS_PER_COHORT, minCohortSize: MIN_COHORT, partitions: PARTITIONS }));
  }
  const setup = { features: FEATURES, usersPerCohort: USERS_PER_COHORT, minCohortSize: MIN_COHORT, windowSeconds: WINDOW_SECONDS, treatmentExtraMs: TREATMENT_EXTRA_MS, partitions: PARTITIONS, phase: PHASE, targetP99Ms: TARGET_P99_MS };
  if (WRITE_RESULTS) {
    const out = fileURLToPath(new URL('./RESULTS-loop.md', import.meta.url));
    writeFileSync(out, resultsMarkdown(runs, live, setup));
    console.log(`wrote ${out}`);
  }
  console.log(JSON.stringify({ benchmark: 'loop', code: codeVersion(), targetP99Ms: TARGET_P99_MS, features: FEATURES, runs: runs.map(({ config: _c, ...r }) => r), live }));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
