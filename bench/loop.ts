// The "loop" target: the span that makes the evidence decisive → flag changed in Redis in ≤ 1 s
// (p99) on the local stack.
//
// The whole app runs in this process in distributed mode (Kafka, PostgreSQL, Redis). For each of
// N features (the seed rule with a small minCohortSize and a 1 h evaluation window) the real OTel
// SDK exporter sends 59 minutes of event time of the seed story: the treatment is 450 ms slower,
// but the verdict stays pending because the window gate holds. The verdict engine evaluates at the
// MIN watermark (max event time − allowedLateness) over the source partitions, so once the stages
// have consumed the data, one span per other partition moves those partitions past the gate (the
// verdict must still be pending), and then ONE span on the last partition makes the evidence
// decisive. Measured: wall time from just before that export() call to the Redis change notice
// for the feature (whose hash must then say treatment=off). Baseline, same call, same run: the
// OTLP export round trip alone (export() to the receiver's OK, sent only after Kafka acked).
// Each feature's data lies in its own stretch of event time, after the previous trigger, because
// watermarks are per partition, not per feature: one feature's data must not open another's gate.
// Runs every checkpointIntervalMs in PMF_BENCH_INTERVALS, idle and under background load.
//
// Run: npm run bench:loop [-- --write-results]      (needs: bash scripts/stack.sh up)
// Env: PMF_BENCH_FEATURES (20), PMF_BENCH_USERS_PER_COHORT (300), PMF_BENCH_MIN_COHORT (200),
//      PMF_BENCH_INTERVALS (comma-separated checkpointIntervalMs values, "200,1000"),
//      PMF_BENCH_PARTITIONS (3), PMF_BENCH_PHASE (random | after-flush), PMF_BENCH_KAFKA_BROKERS / _DATABASE_URL / _REDIS_URL.
// The last line printed is one JSON object with every number.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { flagChannel, flagKey } from '../src/flags/redis-keys.js';
import { mulberry32 } from '../test/helpers/prng.js';
import { waitFor } from '../test/helpers/services.js';
import { partitionForKey } from '../src/log/key-partition.js';
import { parseKeyRing, Pseudonymizer } from '../src/receiver/mapping/pseudonymizer.js';
import { services, startLoopApp, type EngineView, type LoopApp } from './loop-app.js';
import { DATA_SPAN_MS, exposureTime, LoopTraffic, userId } from './loop-spans.js';
import { BackgroundLoad } from './loop-background.js';
import { stageTimes, type StageTimes, type TriggerTiming } from './loop-stages.js';

const env = (name: string, fallback: string) => process.env[name]?.trim() || fallback;
const FEATURES = Number(env('PMF_BENCH_FEATURES', '20'));
const USERS_PER_COHORT = Number(env('PMF_BENCH_USERS_PER_COHORT', '300'));
const MIN_COHORT = Number(env('PMF_BENCH_MIN_COHORT', '200'));
const INTERVALS = env('PMF_BENCH_INTERVALS', '200,1000').split(',').map(Number);
/** Background activity in spans/s during the run; 0 = the stages idle between loops. */
const LOADS = env('PMF_BENCH_LOADS', '0,500').split(',').map(Number);
const PARTITIONS = Number(env('PMF_BENCH_PARTITIONS', '3'));
/** `random`: the trigger lands at a random phase of the flush cycles; `after-flush`: right after the catching-up flush. */
const PHASE = env('PMF_BENCH_PHASE', 'random');
const WINDOW_SECONDS = 3600;
const TREATMENT_EXTRA_MS = 450;
const TARGET_P99_MS = 1000;
const WRITE_RESULTS = process.argv.includes('--write-results');
/** Each feature's stretch of event time: its data, the trigger, and room before the next. */
const SLOT_MS = 70 * 60_000;

interface Summary { p50: number; p90: number; p99: number; max: number; mean: number }

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function summarize(values: number[]): Summary {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  return { p50: r(percentile(s, 50)), p90: r(percentile(s, 90)), p99: r(percentile(s, 99)), max: r(s[s.length - 1]), mean: r(s.reduce((a, b) => a + b, 0) / s.length) };
}

const wallNow = () => performance.timeOrigin + performance.now();

/** Resolves with the wall time of the next change notice naming `feature`. */
class NoticeWaiter {
  private readonly waiting = new Map<string, (wallMs: number) => void>();
  constructor(private readonly sub: Redis, channel: string) {
    sub.on('message', (ch: string, feature: string) => {
      const at = wallNow();
      if (ch !== channel) return;
      const resolve = this.waiting.get(feature);
      if (resolve) {
        this.waiting.delete(feature);
        resolve(at);
      }
    });
  }
  next(feature: string, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(feature);
        reject(new Error(`no change notice for ${feature} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(feature, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }
}

interface FeatureResult extends TriggerTiming {
  loopMs: number;
  exportMs: number;
  exposuresInPendingVerdict: number;
}

async function runConfig(checkpointIntervalMs: number, backgroundSpansPerSecond: number) {
  const features = Array.from({ length: FEATURES }, (_, i) => `feat_loop_${i}`);
  const loop: LoopApp = await startLoopApp({ features, minCohortSize: MIN_COHORT, evaluationWindowSeconds: WINDOW_SECONDS, checkpointIntervalMs, partitions: PARTITIONS });
  const { app, config, keyPrefix } = loop;
  const sub = new Redis(services.redisUrl);
  const redis = new Redis(services.redisUrl);
  const traffic = new LoopTraffic(`http://127.0.0.1:${app.receiverPort()}`);
  const lateMs = config.aggregation.allowedLatenessSeconds * 1000;
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
  const settled = (feature: string, ready: (v: EngineView) => boolean, what: string) =>
    waitFor(
      async () => {
        if (backgroundSpansPerSecond === 0 && !(await loop.caughtUp())) return undefined;
        const v = await loop.engineView(feature, 'treatment');
        if (v.failed) throw new Error(`${feature}: a guard failed before the trigger`);
        return ready(v) && v.lastOutcome === 'pending' ? v : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 20, message: `${feature}: ${what}, verdict pending` },
    );
  let currentStart = 0;
  // Activity half an hour into the current feature's data: accepted (inside the lateness horizon),
  // never past the watermark that the feature's own data sets, so it opens no gate.
  const background = new BackgroundLoad(traffic, backgroundSpansPerSecond, () => currentStart + 30 * 60_000, (err) => console.error('background export failed', err));
  try {
    const channel = flagChannel(keyPrefix);
    const notices = new NoticeWaiter(sub, channel);
    await sub.subscribe(channel);
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
      // Caught up = both stages checkpointed every record; then the engine's stored view must hold
      // every treatment exposure with the gate still closed.
      const view = await settled(feature, (v) => v.exposed === USERS_PER_COHORT, `all ${USERS_PER_COHORT} treatment exposures consumed`);
      if (i === 0) background.start();

      // The engine evaluates at the MIN watermark over the partitions reporting the feature, so
      // the decisive span is the one that moves the last partition past the gate. First every
      // other partition is moved there (one dashboard load each, 1 s past the gate after the
      // allowed lateness); the verdict must still be pending.
      const trigger = { user: 1, partition: partitionOf(feature, 1) };
      const others = otherPartitions(feature, trigger.partition);
      const advanceEventMs = gateOpensAtMs + lateMs + 1000;
      await traffic.export(others.map((o) => traffic.dashboardSpan(feature, o.user, advanceEventMs, 600)));
      await settled(
        feature,
        (v) => others.every((o) => (v.watermarks.get(o.partition) ?? 0) >= gateOpensAtMs) && (v.watermarks.get(trigger.partition) ?? Infinity) < gateOpensAtMs,
        `partitions ${others.map((o) => o.partition).join(', ')} past the gate, partition ${trigger.partition} short of it`,
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

      // The trigger: a slow dashboard load of a treatment user on the last partition.
      const triggerEventMs = advanceEventMs + 1000;
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
        exposuresInPendingVerdict: view.exposed,
      });
      console.log(`${feature}: loop ${loopMs.toFixed(1)} ms, export ${exportMs.toFixed(1)} ms, hash ${JSON.stringify(hash)}`);
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
    console.log(`cost: ${JSON.stringify(cost)}`);
    console.log(`target p99 ≤ ${TARGET_P99_MS} ms: ${run.targetMet ? 'met' : 'NOT met'}`);
    return run;
  } finally {
    await background.stop();
    await traffic.shutdown().catch(() => undefined);
    sub.disconnect();
    redis.disconnect();
    await loop.close();
  }
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

/** The commit measured, and whether src/ had uncommitted changes (other work in the same tree). */
function codeVersion(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} with uncommitted changes in src/` : head;
  } catch {
    return 'unknown (no git)';
  }
}

function resultsMarkdown(runs: Awaited<ReturnType<typeof runConfig>>[]): string {
  const row = (s: Summary) => `${s.p50} | ${s.p90} | ${s.p99} | ${s.max}`;
  const lines = [
    '# Loop benchmark: decisive span → flag off in Redis',
    '',
    `Written by \`npm run bench:loop -- --write-results\` on ${new Date().toISOString().slice(0, 10)}. Target: ≤ ${TARGET_P99_MS} ms at p99 on the local stack.`,
    '',
    `- ${FEATURES} features, ${USERS_PER_COHORT} users per cohort (minCohortSize ${MIN_COHORT}, evaluationWindowSeconds ${WINDOW_SECONDS}, treatment +${TREATMENT_EXTRA_MS} ms), ${PARTITIONS} partitions; every role in one process on Kafka + PostgreSQL + Redis (loopback), 2-core machine.`,
    '- Loop: wall time from just before the OTLP export() of the one decisive span to the Redis change notice (the hash then shows treatment=off).',
    "- Baseline: the same export() call to the receiver's OK (sent after Kafka acked the event).",
    `- Trigger phase: ${PHASE} (random = the span lands at a random moment within two flush cycles; after-flush = right after the flush that caught the run up).`,
    '- Background: activity spans/s sent all through the run (0 = stages idle between loops, so an idle partition flushes the trigger at once; under load every stage waits for its periodic flush, as in production).',
    `- With ${FEATURES} samples, p99 is the maximum.`,
    '- Stage increments come from the Kafka CreateTime of the record each stage produced (its producer send time).',
    `- Code: ${codeVersion()}.`,
    '',
    '| checkpointIntervalMs | background spans/s | what | p50 ms | p90 ms | p99 ms | max ms |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of runs) {
    const head = `| ${r.checkpointIntervalMs} | ${r.backgroundSpansPerSecond} |`;
    lines.push(`${head} **loop** | ${row(r.loopMs)} |`);
    lines.push(`${head} export baseline | ${row(r.exportBaselineMs)} |`);
    for (const [name, s] of Object.entries(r.stagesMs)) if (name.startsWith('Δ')) lines.push(`${head} ${name} | ${row(s)} |`);
  }
  lines.push('', '| checkpointIntervalMs | background spans/s | loop/export p50 | loop/export p99 | p99 ≤ 1 s | process CPU % | aggregator / verdict checkpoints/s |', '|---|---|---|---|---|---|---|');
  for (const r of runs) {
    lines.push(`| ${r.checkpointIntervalMs} | ${r.backgroundSpansPerSecond} | ${r.ratioLoopToExport.p50}× | ${r.ratioLoopToExport.p99}× | ${r.targetMet ? 'yes' : 'no'} | ${r.cost.processCpuPercent} | ${r.cost.aggregatorCheckpointsPerSecond} / ${r.cost.verdictCheckpointsPerSecond} |`);
  }
  lines.push(
    '',
    'Process CPU % is this one process (app, load generator and bench) over the whole run, sending the data included; runs differ in length, so read it as a rough cost, the checkpoint rates as the exact one.',
    '',
    '## Where the time goes (at the code version above)',
    '',
    '- Receiver and flag writer are small: about 1 ms from export() to the event on Kafka, and 5–30 ms from the rollback command to the Redis notice (PostgreSQL transaction, then the Redis script).',
    '- The aggregator publishes partials only when it checkpoints (src/stream/stateful-runner.ts): at the end of a batch if its partition has not flushed for `checkpointIntervalMs`, else at the periodic flush. Idle, the trigger flushes at once; under load it waits for the next periodic flush, up to one interval.',
    '- The verdict engine runs on the same runner with the same interval (`aggregation.checkpointIntervalMs`). Under load its periodic flush runs in phase with the aggregator\'s (same interval, started together), so the decisive partial arrives just after a verdict flush and waits almost a whole interval.',
    '- So under load the loop is about U(0, I) + I for a flush interval I. In this run:',
    ...runs.map((r) => `  - I = ${r.checkpointIntervalMs} ms, ${r.backgroundSpansPerSecond} background spans/s: loop p99 ${r.loopMs.p99} ms (${r.targetMet ? 'meets' : 'misses'} the 1 s target); aggregator wait p50 ${r.stagesMs['Δ aggregator (event → partial)'].p50} ms, verdict wait p50 ${r.stagesMs['Δ verdict (partial → command)'].p50} ms.`),
    '',
  );
  return lines.join('\n');
}

async function main() {
  const runs = [];
  for (const load of LOADS) for (const interval of INTERVALS) runs.push(await runConfig(interval, load));
  if (WRITE_RESULTS) {
    const out = fileURLToPath(new URL('./RESULTS-loop.md', import.meta.url));
    writeFileSync(out, resultsMarkdown(runs));
    console.log(`wrote ${out}`);
  }
  console.log(JSON.stringify({ benchmark: 'loop', code: codeVersion(), targetP99Ms: TARGET_P99_MS, features: FEATURES, runs: runs.map(({ config: _c, ...r }) => r) }));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
