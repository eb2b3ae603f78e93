// Arrival order end to end, with real OTel SDK exporters, on the embedded default and on
// Kafka/PostgreSQL/Redis: three features' telemetry sent in event-time order ("live") and as a
// backfill (feature after feature, each user's spans together) must give the same final outcomes
// and flag states; nothing is refused; every declared feature answers 200 on the flag API with
// its guarded cohorts; and a replay of the recorded log gives the live verdict stream bit for bit.
// Every published aggregate equals the oracle's, feat_cart's early activation counts included.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app/build-app.js';
import { createLog } from '../../src/app/create-log.js';
import { aggregatorSettings, createEvaluator, verdictSettings } from '../../src/app/stage-settings.js';
import { loadConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { decodeFeaturePartial, decodeVerdict } from '../../src/events/codec.js';
import { compareSnapshotPositions, type FeaturePartial } from '../../src/events/feature-partial.js';
import { atPosition, oracleAggregate, upToPosition } from '../helpers/aggregation-oracle.js';
import type { Verdict } from '../../src/events/verdict.js';
import { readEventsFromLog } from '../../src/replay/read-recorded-events.js';
import { replay } from '../../src/replay/replay.js';
import { loadRulesFile } from '../../src/config/rules-file.js';
import { HISTORY_FEATURES, sendHistory } from '../helpers/history-scenario.js';
import { testServices, uniqueName, waitFor } from '../helpers/services.js';

const RULES = 'test/fixtures/arrival-order-rules.yaml';

interface RunResult {
  outcomes: Record<string, string>;
  flags: Record<string, Record<string, string>>;
  counters: { accepted: number; late: number; refused: number; lateApplied: number };
  verdictStreamsMatchReplay: boolean;
}

function sum(metrics: string, name: string): number {
  let total = 0;
  for (const line of metrics.split('\n')) if (line.startsWith(`${name}{`)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

async function runOrder(order: 'live' | 'backfill' | 'outage', distributed: boolean): Promise<RunResult> {
  const id = uniqueName(`ao-${order}`).replace(/[^a-z0-9_]/gi, '_').toLowerCase();
  const dataDir = mkdtempSync(join(tmpdir(), `pmf-e2e-${order}-`));
  const env: Record<string, string> = {
    PMF_GUARD_DATA_DIR: dataDir, PMF_GUARD_OTLP_GRPC_PORT: '0', PMF_GUARD_OTLP_HTTP_PORT: '0', PMF_GUARD_ADMIN_PORT: '0',
  };
  if (distributed) {
    Object.assign(env, {
      KAFKA_BROKERS: testServices.kafkaBrokers.join(','), DATABASE_URL: testServices.databaseUrl, REDIS_URL: testServices.redisUrl,
      PMF_GUARD_TOPIC_PREFIX: `${id}.`, PMF_GUARD_DATABASE_SCHEMA: `pmf_${id}`, PMF_GUARD_REDIS_KEY_PREFIX: `${id}:`,
      PMF_GUARD_PSEUDONYM_KEY: 'e2e-test-key-0123456789abcdef', PMF_GUARD_COMMAND_KEY: 'e2e-command-key-0123456789abcdef',
    });
  }
  const loaded = loadConfig({ env, rulesFile: RULES });
  const config = distributed ? { ...loaded, kafka: { ...loaded.kafka, groupPrefix: id, partitions: 3 } } : loaded;
  const rules = await loadRulesFile(RULES);
  const app: App = await buildApp(config, rules, { logger: silentLogger });
  const admin = async (path: string) => (await fetch(`http://127.0.0.1:${app.adminPort()}${path}`)).json();
  try {
    await app.start();
    // A declared feature is known before any data: 200 with no cohorts yet.
    const before = await fetch(`http://127.0.0.1:${app.adminPort()}/v1/flags/feat_cart`);
    expect(before.status).toBe(200);

    const sent = await sendHistory({ endpoint: `http://127.0.0.1:${app.receiverPort()}`, order, startMs: Date.now() - 7 * 3600_000 });
    // Settled: every feature judged at a step past its whole history, and the rollback applied.
    const outcomes = await waitFor(
      async () => {
        const out: Record<string, string> = {};
        for (const f of HISTORY_FEATURES) {
          for (const v of app.latestVerdicts(f)) {
            if (Date.parse(v.evaluatedAt) < sent.endMs - 40 * 60_000) return undefined;
            out[`${f}/${v.cohort}`] = v.outcome;
          }
        }
        const flag = await admin('/v1/flags/feat_slow_recs');
        // Guarded cohorts get their rows from the verdicts topic, asynchronously: wait for them too.
        const rows = await Promise.all(['feat_aa', 'feat_cart'].map(async (f) => (await admin(`/v1/flags/${f}`)).cohorts?.treatment));
        return Object.keys(out).length === 6 && flag.cohorts?.treatment?.state === 'off' && rows.every(Boolean) ? out : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, message: `${order}: verdicts did not settle` },
    );
    const flags: Record<string, Record<string, string>> = {};
    for (const f of HISTORY_FEATURES) {
      const body = await admin(`/v1/flags/${f}`);
      flags[f] = Object.fromEntries(Object.entries(body.cohorts as Record<string, { state: string }>).map(([c, v]) => [c, v.state]));
    }
    const metrics = await (await fetch(`http://127.0.0.1:${app.adminPort()}/metrics`)).text();
    expect(metrics).toMatch(/pmf_aggregator_watermark_lag_seconds\{partition="\d+"\} \d+/);
    const counters = {
      accepted: sum(metrics, 'pmf_aggregator_events_accepted_total'),
      late: sum(metrics, 'pmf_aggregator_events_late_total'),
      refused: sum(metrics, 'pmf_aggregator_events_too_late_total'),
      lateApplied: sum(metrics, 'pmf_aggregator_late_effects_applied_total'),
    };
    await app.stop();

    // The live verdict stream, per feature, against a replay of the recorded log.
    const log = createLog(config, systemClock, silentLogger);
    let verdictStreamsMatchReplay = false;
    try {
      const live = new Map<string, string[]>();
      for await (const batch of log.readAll!(app.topics.verdicts)) {
        for (const r of batch.records) {
          const v = decodeVerdict(r.value);
          live.set(v.feature, [...(live.get(v.feature) ?? []), r.value.toString('utf8')]);
        }
      }
      const recorded = await readEventsFromLog(log, app.topics.events, {});
      const v = verdictSettings(config);
      const replayed = replay(recorded.partitions, {
        rules, evaluator: createEvaluator(config), stepMs: v.stepMs, heartbeatMs: v.heartbeatMs, partitions: v.partitions, aggregation: aggregatorSettings(config),
      });
      const again = new Map<string, string[]>();
      for (const verdict of replayed.verdicts) again.set(verdict.feature, [...(again.get(verdict.feature) ?? []), JSON.stringify(verdict satisfies Verdict)]);
      for (const f of HISTORY_FEATURES) expect(again.get(f), `${order}: replayed verdicts of ${f}`).toEqual(live.get(f));
      verdictStreamsMatchReplay = true;

      // Every aggregate the live pipeline published equals the oracle's recomputation from the log
      // up to the snapshot's offset.
      const latest = new Map<string, FeaturePartial>();
      for await (const batch of log.readAll!(app.topics.cohortStats)) {
        for (const r of batch.records) {
          const p = decodeFeaturePartial(r.value);
          const prev = latest.get(`${p.feature}|${p.partition}`);
          if (!prev || compareSnapshotPositions(p, prev) > 0) latest.set(`${p.feature}|${p.partition}`, p);
        }
      }
      const a = aggregatorSettings(config);
      let earlyReached = 0;
      for (const [key, p] of latest) {
        const records = upToPosition((recorded.partitions.get(p.partition) ?? [])
          .flatMap((r) => r.events.map((event, k) => ({ event, offset: r.offset, continuesRecord: k > 0 }))), p);
        const want = oracleAggregate(records, { ...a, partition: p.partition, rules }).partials.filter((c) => c.feature === p.feature);
        expect(p.cohorts, `${order}: published aggregates of ${key}`).toEqual(atPosition(want, p));
        // feat_cart opts in to early activation counts: the aggregator publishes them at its landmark.
        if (p.feature === 'feat_cart') earlyReached += p.cohorts.reduce((s, c) => s + (c.activation.early?.afterMs === 600_000 ? c.activation.early.reached : -Infinity), 0);
      }
      expect(earlyReached, `${order}: feat_cart's early activation counts`).toBeGreaterThan(0);
    } finally {
      await log.close();
    }
     
    console.info(JSON.stringify({ arrivalOrder: order, distributed, spans: sent.spans, ...counters }));
    return { outcomes, flags, counters, verdictStreamsMatchReplay };
  } finally {
    await app.stop();
    if (distributed) {
      const pool = new pg.Pool({ connectionString: testServices.databaseUrl, max: 1 });
      await pool.query(`DROP SCHEMA IF EXISTS pmf_${id} CASCADE`);
      await pool.end();
      const redis = new Redis(testServices.redisUrl);
      const keys = await redis.keys(`${id}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

for (const distributed of [false, true]) {
  describe(`arrival order on ${distributed ? 'Kafka, PostgreSQL and Redis' : 'the embedded default'}`, () => {
    it('a backfill and a 3 h outage give the live outcomes, refuse nothing, and replay equals live bit for bit', async () => {
      const live = await runOrder('live', distributed);
      const backfill = await runOrder('backfill', distributed);
      const outage = await runOrder('outage', distributed);
      expect(outage.outcomes).toEqual(live.outcomes);
      expect(outage.flags).toEqual(live.flags);
      expect(outage.counters.refused).toBe(0);
      expect(outage.counters.accepted).toBe(live.counters.accepted);
      expect(live.outcomes['feat_slow_recs/treatment']).toBe('fail');
      for (const [key, outcome] of Object.entries(live.outcomes)) if (key !== 'feat_slow_recs/treatment') expect(outcome, key).not.toBe('fail');
      expect(backfill.outcomes).toEqual(live.outcomes);
      expect(backfill.flags).toEqual(live.flags);
      expect(live.flags).toEqual({
        feat_slow_recs: { treatment: 'off' },
        feat_aa: { treatment: 'on' },
        feat_cart: { treatment: 'on' },
      });
      expect(live.counters.refused).toBe(0);
      expect(backfill.counters.refused).toBe(0);
      expect(backfill.counters.accepted).toBe(live.counters.accepted);
      expect(backfill.counters.late).toBeGreaterThan(live.counters.late);
      expect(live.verdictStreamsMatchReplay && backfill.verdictStreamsMatchReplay && outage.verdictStreamsMatchReplay).toBe(true);
    }, 420_000);
  });
}
