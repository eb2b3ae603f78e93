// The verdict stage alone, in process (no Kafka, no database): the cohort-stats records of the
// loop benchmark's shape (bench/verdict-input.ts) go through VerdictProcessor.apply one by one,
// and after each event-time step the stage checkpoints as the stateful runner would
// (checkpoint(offset) when the processor has it, else serialize()). Measured:
//  - per snapshot: wall time of apply(record) (one step snapshot per record), early (the second
//    tenth of the steps, after warm-up: few live features, short history) and late (the last tenth: every
//    feature live, the longest history);
//  - per checkpoint: bytes written; the time checkpoint(offset) takes (what the runner's flush,
//    and so every output waiting behind it, pays on the event loop); and the time to build its rows
//    (the verdict stage does it in the save lane in slices of ~2 ms, so it no longer holds the loop
//    at once), early and late;
//  - a digest of every verdict and command produced, so runs of two code versions can be
//    compared for identical output.
// Each feature count in PMF_BENCH_VERDICT_FEATURES is a run; the first is the in-run baseline:
// late per-snapshot cost and checkpoint bytes at N features are reported as ratios to it, and
// late/early ratios within each run show whether the cost grows with history. Bounded cost: both ≈ 1.
//
// Run: npm run bench:verdict
// Env: PMF_BENCH_VERDICT_FEATURES ("20,100"), PMF_BENCH_VERDICT_STEPS (600), PMF_BENCH_PARTITIONS (3),
//      PMF_BENCH_VERDICT_USERS (30 new users per step per cohort per partition),
//      PMF_BENCH_VERDICT_HEARTBEAT_SECONDS (3600; the app default is 60, a heartbeat per step), PMF_BENCH_VERDICT_CPU_PROFILE (run with
//      node --cpu-prof yourself; this only names the phase).
// The last line printed is one JSON object with every number.

import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ManualClock } from '../src/core/clock.js';
import { commandKeyRing } from '../src/events/command-signature.js';
import { topicNames } from '../src/events/topics.js';
import { verdictProcessorFactory } from '../src/stream/verdict-processor.js';
import { SequentialEvaluator } from '../src/verdict/sequential-evaluator.js';
import { summarize, type Summary } from './loop-measure.js';
import { benchRules, InputStream, STEP_MS } from './verdict-input.js';

const env = (name: string, fallback: string) => process.env[name]?.trim() || fallback;
const FEATURES = env('PMF_BENCH_VERDICT_FEATURES', '20,100').split(',').map(Number);
const STEPS = Number(env('PMF_BENCH_VERDICT_STEPS', '600'));
const PARTITIONS = Number(env('PMF_BENCH_PARTITIONS', '3'));
const USERS = Number(env('PMF_BENCH_VERDICT_USERS', '30'));
/** Event time between re-published unchanged verdicts; the app's default (verdict.heartbeatSeconds) is 60 s, one per step. */
const HEARTBEAT_SECONDS = Number(env('PMF_BENCH_VERDICT_HEARTBEAT_SECONDS', '3600'));

interface Phase {
  /** µs per snapshot applied. */
  applyUs: Summary;
  /** µs of apply per step (every record of the step). */
  stepMs: Summary;
  checkpointBytes: Summary;
  /** checkpoint(offset): synchronous, on the flush. */
  checkpointMs: Summary;
  /** Building the rows (prepare, or all of it when the processor has none). */
  checkpointBuildMs: Summary;
}

interface RunResult {
  features: number;
  steps: number;
  snapshots: number;
  verdicts: number;
  commands: number;
  /** sha256 of every verdict and command record, in order. */
  outputDigest: string;
  early: Phase;
  late: Phase;
  /** Late over early, per-snapshot apply p50 and checkpoint bytes p50. */
  growth: { applyP50: number; applyP99: number; checkpointBytes: number; checkpointMs: number };
  seconds: number;
}

function runOnce(features: number): RunResult {
  const started = performance.now();
  const rules = benchRules(features);
  const topics = topicNames('bench.');
  const factory = verdictProcessorFactory(
    topics,
    () => ({ rules, evaluator: new SequentialEvaluator(), heartbeatMs: HEARTBEAT_SECONDS * 1000, partitions: PARTITIONS }),
    commandKeyRing(['bench-verdict-command-key-0123456789abcdef']),
    new ManualClock(0),
    Number.POSITIVE_INFINITY,
  );
  const processor = factory.create(0);
  const input = new InputStream({ features, steps: STEPS, partitions: PARTITIONS, usersPerStep: USERS, requestsPerUser: 3 });
  const digest = createHash('sha256');
  let verdicts = 0;
  let commands = 0;
  let offset = 0;
  let snapshots = 0;
  const window = Math.max(1, Math.floor(STEPS / 10));
  const phases = { early: newSamples(), late: newSamples() };
  for (let s = 0; s < STEPS; s++) {
    const records = input.records(s);
    const phase = s >= window && s < 2 * window ? phases.early : s >= STEPS - window ? phases.late : undefined;
    let stepTime = 0;
    for (const value of records) {
      const t = performance.now();
      processor.apply({ partition: 0, offset: String(offset++), key: null, value, timestamp: 0 });
      const dt = performance.now() - t;
      stepTime += dt;
      snapshots++;
      phase?.applyUs.push(dt * 1000);
    }
    for (const out of processor.takeOutputs()) {
      for (const r of out.records) digest.update(r.value);
      if (out.topic === topics.verdicts) verdicts += out.records.length;
      else commands += out.records.length;
    }
    const t = performance.now();
    let bytes: number;
    let ct: number;
    let bt: number;
    if (processor.checkpoint) {
      const cp = processor.checkpoint(String(offset));
      ct = performance.now() - t;
      const b = performance.now();
      // The rows' whole build at once (what prepare() spreads over slices in the runner).
      bytes = cp.head.length + cp.changes.put.reduce((n, p) => n + p.data.length, 0);
      bt = performance.now() - b;
      cp.settle(true);
    } else {
      bytes = processor.serialize().length;
      ct = bt = performance.now() - t;
    }
    if (phase) {
      phase.stepMs.push(stepTime);
      phase.checkpointBytes.push(bytes);
      phase.checkpointMs.push(ct);
      phase.checkpointBuildMs.push(bt);
    }
  }
  const early = summarizePhase(phases.early);
  const late = summarizePhase(phases.late);
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  return {
    features,
    steps: STEPS,
    snapshots,
    verdicts,
    commands,
    outputDigest: digest.digest('hex').slice(0, 16),
    early,
    late,
    growth: {
      applyP50: ratio(late.applyUs.p50, early.applyUs.p50),
      applyP99: ratio(late.applyUs.p99, early.applyUs.p99),
      checkpointBytes: ratio(late.checkpointBytes.p50, early.checkpointBytes.p50),
      checkpointMs: ratio(late.checkpointMs.p50, early.checkpointMs.p50),
    },
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
}

function newSamples() {
  return { applyUs: [] as number[], stepMs: [] as number[], checkpointBytes: [] as number[], checkpointMs: [] as number[], checkpointBuildMs: [] as number[] };
}

function summarizePhase(p: ReturnType<typeof newSamples>): Phase {
  return { applyUs: summarize(p.applyUs), stepMs: summarize(p.stepMs), checkpointBytes: summarize(p.checkpointBytes), checkpointMs: summarize(p.checkpointMs), checkpointBuildMs: summarize(p.checkpointBuildMs) };
}

const runs: RunResult[] = [];
console.log(`verdict stage: ${PARTITIONS} partitions, ${STEPS} steps of ${STEP_MS / 1000} s, ${USERS} new users per step per cohort per partition; features ${FEATURES.join(', ')}`);
for (const features of FEATURES) {
  const r = runOnce(features);
  runs.push(r);
  const f = (p: Phase) =>
    `apply/snapshot p50 ${p.applyUs.p50} µs p99 ${p.applyUs.p99} µs; step p50 ${p.stepMs.p50} ms p99 ${p.stepMs.p99} ms; checkpoint p50 ${p.checkpointBytes.p50} B, taken in ${p.checkpointMs.p50} ms (p99 ${p.checkpointMs.p99}), rows built in ${p.checkpointBuildMs.p50} ms (p99 ${p.checkpointBuildMs.p99})`;
  console.log(`\n${features} features: ${r.snapshots} snapshots, ${r.verdicts} verdicts, ${r.commands} commands, output ${r.outputDigest}, ${r.seconds} s`);
  console.log(`  early: ${f(r.early)}`);
  console.log(`  late:  ${f(r.late)}`);
  console.log(`  late/early: apply p50 ${r.growth.applyP50}x p99 ${r.growth.applyP99}x, checkpoint bytes ${r.growth.checkpointBytes}x, checkpoint time ${r.growth.checkpointMs}x`);
}
const base = runs[0];
const vsBaseline = runs.slice(1).map((r) => ({
  features: r.features,
  lateApplyP50: Math.round((r.late.applyUs.p50 / base.late.applyUs.p50) * 100) / 100,
  lateApplyP99: Math.round((r.late.applyUs.p99 / base.late.applyUs.p99) * 100) / 100,
  lateCheckpointBytes: Math.round((r.late.checkpointBytes.p50 / base.late.checkpointBytes.p50) * 100) / 100,
}));
for (const v of vsBaseline) console.log(`\n${v.features} vs ${base.features} features (late): apply p50 ${v.lateApplyP50}x p99 ${v.lateApplyP99}x, checkpoint bytes ${v.lateCheckpointBytes}x`);
console.log(JSON.stringify({ bench: 'verdict', partitions: PARTITIONS, steps: STEPS, usersPerStep: USERS, baselineFeatures: base.features, runs, vsBaseline }));
