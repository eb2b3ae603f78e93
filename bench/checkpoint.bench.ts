// Incremental checkpoints against whole-state checkpoints of the same aggregator state
// (npm run bench:checkpoint):
//  1. one partition's aggregator is filled in-process with PMF_BENCH_PAIRS tracked (user,
//     feature) pairs (default 10 M: 5 M users × 2 ruled features, windows still open);
//  2. baseline: the whole-state checkpoint of that state (serialize(), what every checkpoint wrote
//     before: its bytes per checkpoint and its serialization time); also its in-memory restore;
//  3. the first incremental checkpoint (every chunk's base, as after an upgrade) is saved to real
//     PostgreSQL; then PMF_BENCH_SECONDS checkpoints, each after 50 k updates (activations,
//     latency spans and new exposures on random users): bytes per checkpoint at 50 k updates/s,
//     save time;
//  4. restore: load head + parts from PostgreSQL and rebuild, in one piece and in slices (as the
//     runner does, giving the event loop back between them) in alternating rounds, each checked
//     byte for byte against the live state's serialize(); the longest block of the sliced one;
//  5. bytes per pair: stored bytes (head + parts) and the aggregator's accounted memory.
// The last printed line is one JSON object with the figures.

import pg from 'pg';
import { AggregatorCheckpointer, PART_FIRST_CHUNK } from '../src/aggregation/aggregator-checkpoint.js';
import { PartitionAggregator } from '../src/aggregation/partition-aggregator.js';
import { nextTurn } from '../src/core/next-turn.js';
import { RESTORE_SLICE_MS } from '../src/stream/stateful-runner.js';
import type { FeatureEvent } from '../src/events/feature-event.js';
import { migrate } from '../src/store/migrations.js';
import { PgSqlClient } from '../src/store/pg-sql-client.js';
import { SqlCheckpointStore } from '../src/store/sql-checkpoint-store.js';
import { Rule, type RuleSet } from '../src/rules/schema.js';
import { mulberry32 } from '../test/helpers/prng.js';

const PAIRS = Number(process.env.PMF_BENCH_PAIRS ?? 10_000_000);
const SECONDS = Number(process.env.PMF_BENCH_SECONDS ?? 20);
const UPDATES_PER_SECOND = Number(process.env.PMF_BENCH_UPDATES ?? 50_000);
const DATABASE_URL = process.env.PMF_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RESTORE_ROUNDS = Number(process.env.PMF_BENCH_RESTORE_ROUNDS ?? 4);
const FEATURES = ['checkout-v2', 'dashboard-v3'];
const T0 = 1_700_000_000_000;

const progress = (msg: string) => process.stderr.write(`[bench:checkpoint] ${msg}\n`);

function rules(): RuleSet {
  // Week-long windows: nothing matures during the run, so every pair stays tracked and the only
  // changes are the updates (with the default 1-day activation window, the 5 M exposures of the
  // fill, 1 ms apart, matured 1 M states per checkpoint for 5 checkpoints: a real state change,
  // but not the 50 k updates/s this measures).
  const base = { activationThreshold: 0.2, retentionThreshold: 0.2, latencyP95Threshold: 450, minCohortSize: 100, evaluationWindowSeconds: 3600 };
  const parsed = [
    Rule.parse({ ...base, featureId: 'checkout-v2', activation: { action: { spanName: 'purchase' }, windowSeconds: 604_800 }, retention: { returnAfterSeconds: 86_400, windowSeconds: 604_800 } }),
    Rule.parse({ ...base, featureId: 'dashboard-v3', latency: { spanName: 'GET /dashboard' }, activation: { windowSeconds: 604_800 }, retention: { returnAfterSeconds: 86_400, windowSeconds: 604_800 } }),
  ];
  return { version: 'bench', rules: parsed, byFeature: new Map(parsed.map((r) => [r.featureId, r])) };
}

const user = (u: number) => u.toString(16).padStart(32, '0');

async function main(): Promise<void> {
  const options = { partition: 0, rules: rules() };
  const agg = new PartitionAggregator(options);
  const users = Math.ceil(PAIRS / FEATURES.length);
  let offset = 0;
  let time = T0;
  progress(`filling ${PAIRS} pairs (${users} users)`);
  const f0 = performance.now();
  for (let u = 0; u < users; u++) {
    time += 1;
    const flags = FEATURES.map((feature) => ({ feature, variant: u % 2 === 0 ? 'on' : 'off' }));
    agg.apply({ user: user(u), time, id: `x${u}`, name: 'page', flags, source: 'span' }, String(offset++));
  }
  const fillSeconds = (performance.now() - f0) / 1000;
  const pairs = agg.stats().trackedUsers;
  progress(`filled in ${fillSeconds.toFixed(1)} s: ${pairs} pairs`);

  // Baseline: the whole-state checkpoint.
  let c0 = performance.now();
  const whole = agg.serialize();
  const wholeSerializeMs = performance.now() - c0;
  c0 = performance.now();
  PartitionAggregator.restore(whole, options);
  const wholeRestoreMs = performance.now() - c0;
  const wholeBytes = whole.length;
  progress(`whole state: ${(wholeBytes / 1e6).toFixed(1)} MB, serialize ${wholeSerializeMs.toFixed(0)} ms, restore (memory) ${wholeRestoreMs.toFixed(0)} ms`);

  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  const sql = new PgSqlClient(pool);
  const schema = `bench_ckpt_${process.pid}_${Date.now()}`;
  await migrate(sql, schema);
  const store = new SqlCheckpointStore(sql, schema);
  const save = async (cpr: AggregatorCheckpointer) => {
    const t = performance.now();
    const cp = cpr.take(agg, String(offset));
    const takeMs = performance.now() - t;
    const bytes = cp.head.length + cp.changes.put.reduce((s, p) => s + p.data.length, 0);
    const saved = await store.save('aggregator', 'events', { partition: 0, offset: String(offset), state: cp.head, changes: cp.changes });
    cp.settle(saved);
    if (!saved) throw new Error('checkpoint refused');
    const bases = cp.changes.drop.filter((d) => d.part >= PART_FIRST_CHUNK && d.below !== undefined).length;
    return { bytes, takeMs, totalMs: performance.now() - t, rows: cp.changes.put.length, bases };
  };
  try {
    const cpr = AggregatorCheckpointer.fresh(agg);
    const first = await save(cpr);
    progress(`first incremental checkpoint (all bases): ${(first.bytes / 1e6).toFixed(1)} MB in ${first.rows} rows, ${(first.totalMs / 1000).toFixed(1)} s`);

    const rand = mulberry32(42);
    const perCheckpoint: { bytes: number; takeMs: number; totalMs: number; rows: number; bases: number }[] = [];
    let nextUser = users;
    for (let s = 0; s < SECONDS; s++) {
      for (let k = 0; k < UPDATES_PER_SECOND; k++) {
        time += 20;
        const r = rand();
        let e: FeatureEvent;
        if (r < 0.1) {
          // A new user exposed (the state grows).
          e = { user: user(nextUser++), time, id: `n${offset}`, name: 'page', flags: [{ feature: FEATURES[k & 1], variant: 'on' }], source: 'span' };
        } else {
          const u = Math.floor(rand() * users);
          e = r < 0.55
            ? { user: user(u), time, id: `p${offset}`, name: 'purchase', flags: [], source: 'span' }
            : { user: user(u), time, id: `l${offset}`, name: 'GET /dashboard', flags: [], source: 'span', durationMs: 100 + (offset % 500) };
        }
        agg.apply(e, String(offset++));
      }
      perCheckpoint.push(await save(cpr));
    }
    if (process.env.PMF_BENCH_TRACE) progress(perCheckpoint.map((c, i) => `${i}:${(c.bytes / 1e6).toFixed(1)}/${c.bases}`).join(' '));
    const bytesPerCheckpoint = perCheckpoint.map((c) => c.bytes).sort((a, b) => a - b);
    const meanBytes = bytesPerCheckpoint.reduce((a, b) => a + b, 0) / bytesPerCheckpoint.length;
    const saveMs = perCheckpoint.map((c) => c.totalMs).sort((a, b) => a - b);
    progress(`${SECONDS} checkpoints at ${UPDATES_PER_SECOND} updates each: mean ${(meanBytes / 1e6).toFixed(2)} MB, max ${(bytesPerCheckpoint[bytesPerCheckpoint.length - 1] / 1e6).toFixed(2)} MB`);

    const { rows } = await pool.query<{ bytes: string; n: string }>(
      `SELECT coalesce(sum(octet_length(data)), 0)::text AS bytes, count(*)::text AS n FROM "${schema}".stream_checkpoint_parts`,
    );
    const l0 = performance.now();
    const loaded = await store.load('aggregator', 'events', 0);
    const loadMs = performance.now() - l0;
    // The decode in one piece (what the runner did before: one block of the event loop) and in
    // slices (what it does now: a turn, and a heartbeat when due, every RESTORE_SLICE_MS),
    // alternating, each checked byte for byte against the live state. A sliced decode's longest
    // block is the longest stretch between two of its pauses (the first from its start, the last
    // to its end).
    const live = agg.serialize();
    const oneMs: number[] = [];
    const slicedMs: number[] = [];
    const longestMs: number[] = [];
    let pauses = 0;
    let identical = true;
    const inOnePiece = () => {
      const r0 = performance.now();
      const whole = AggregatorCheckpointer.restore(loaded!.state, loaded!.parts!, options).aggregator;
      oneMs.push(performance.now() - r0);
      identical &&= whole.serialize().equals(live);
    };
    for (let round = 0; round < RESTORE_ROUNDS; round++) {
      // Which goes first alternates: the first decode of a run is the slowest (fresh heap).
      if (round % 2 === 0) inOnePiece();
      let longest = 0;
      let blockStart = performance.now();
      pauses = 0;
      const s0 = blockStart;
      const sliced = (await AggregatorCheckpointer.restoreSliced(loaded!.state, loaded!.parts!, options, RESTORE_SLICE_MS, async () => {
        longest = Math.max(longest, performance.now() - blockStart);
        pauses++;
        await nextTurn();
        blockStart = performance.now();
      })).aggregator;
      longest = Math.max(longest, performance.now() - blockStart);
      slicedMs.push(performance.now() - s0);
      longestMs.push(longest);
      identical &&= sliced.serialize().equals(live);
      if (round % 2 === 1) inOnePiece();
      progress(`restore round ${round}: in one piece ${oneMs[round].toFixed(0)} ms; in ${pauses + 1} slices ${slicedMs[round].toFixed(0)} ms, longest ${longest.toFixed(0)} ms`);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    const rebuildMs = median(oneMs);
    progress(`restore: load ${(loadMs / 1000).toFixed(2)} s + rebuild ${(rebuildMs / 1000).toFixed(2)} s, identical: ${identical}`);
    if (!identical) throw new Error('restored state differs from the live state');
    const s = agg.stats();
    const storedBytes = Number(rows[0].bytes) + loaded!.state.length;
    const result = {
      trackedPairs: s.trackedUsers,
      fillSeconds: +fillSeconds.toFixed(1),
      updatesPerCheckpoint: UPDATES_PER_SECOND,
      checkpoints: SECONDS,
      wholeCheckpointBytes: wholeBytes,
      wholeSerializeMs: Math.round(wholeSerializeMs),
      wholeRestoreInMemoryMs: Math.round(wholeRestoreMs),
      incrementalBytesPerSecondMean: Math.round(meanBytes),
      incrementalBytesPerSecondMax: bytesPerCheckpoint[bytesPerCheckpoint.length - 1],
      bytesRatioWholeOverIncremental: +(wholeBytes / meanBytes).toFixed(1),
      incrementalTakeMsMedian: +perCheckpoint.map((c) => c.takeMs).sort((a, b) => a - b)[perCheckpoint.length >> 1].toFixed(1),
      incrementalSaveMsMedian: Math.round(saveMs[saveMs.length >> 1]),
      incrementalSaveMsMax: Math.round(saveMs[saveMs.length - 1]),
      firstCheckpointBytes: first.bytes,
      firstCheckpointSeconds: +(first.totalMs / 1000).toFixed(1),
      restoreSeconds: +((loadMs + rebuildMs) / 1000).toFixed(2),
      restoreLoadSeconds: +(loadMs / 1000).toFixed(2),
      restoreRebuildSeconds: +(rebuildMs / 1000).toFixed(2),
      restoreRounds: RESTORE_ROUNDS,
      restoreOnePieceMs: oneMs.map(Math.round),
      restoreSlicedMs: slicedMs.map(Math.round),
      restoreSlicedOverOnePiece: +(median(slicedMs) / rebuildMs).toFixed(2),
      restoreSliceMs: RESTORE_SLICE_MS,
      restoreSlices: pauses + 1,
      restoreLongestBlockMs: Math.round(Math.max(...longestMs)),
      restoreLongestBlockMsByRound: longestMs.map(Math.round),
      storedPartRows: Number(rows[0].n),
      storedBytes,
      storedBytesPerPair: +(storedBytes / s.trackedUsers).toFixed(1),
      wholeBytesPerPair: +(live.length / s.trackedUsers).toFixed(1),
      memoryStateBytesPerPair: +(s.stateBytes / s.trackedUsers).toFixed(1),
      dedupeEntries: s.dedupeEntries,
      dedupeBytesPerPair: +(s.dedupeBytes / s.trackedUsers).toFixed(2),
      restoredIdentical: identical,
    };
    console.log(JSON.stringify(result));
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await pool.end();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
