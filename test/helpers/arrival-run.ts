// One end-to-end run of the history scenario (test/helpers/history-scenario.ts) against a whole
// pmf-guard, on the embedded default or on Kafka/PostgreSQL/Redis, with real OTel SDK exporters:
// start the app, send the spans in the chosen arrival order, wait until the features with data
// are judged past their history and the aggregator has consumed everything, read the outcomes,
// flags and aggregator counters, then check the recorded log two ways: a replay gives the live
// verdict stream bit for bit, and every published aggregate equals the independent oracle's
// recomputation (test/helpers/aggregation-oracle.ts), whose refused and late counts are returned
// beside the live ones; feat_cart's early activation counts included (its rule sets a 10 min landmark).

import { expect } from 'vitest';
import { createLog } from '../../src/app/create-log.js';
import { aggregatorSettings, createEvaluator, verdictSettings } from '../../src/app/stage-settings.js';
import type { Config } from '../../src/config/schema.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { decodeVerdict } from '../../src/events/codec.js';
import { decodeCohortStats } from '../../src/events/cohort-stats-codec.js';
import { compareSnapshotPositions, type FeaturePartial } from '../../src/events/feature-partial.js';
import type { Verdict } from '../../src/events/verdict.js';
import { readEventsFromLog } from '../../src/replay/read-recorded-events.js';
import { replay } from '../../src/replay/replay.js';
import { loadRulesFile } from '../../src/config/rules-file.js';
import { atPosition, oracleAggregate, upToPosition, type OracleMarker, type OracleRecord } from './aggregation-oracle.js';
import { HISTORY_FEATURES, sendHistory, type ArrivalOrder, type HistoryOptions, type HistoryResult } from './history-scenario.js';
import { DistributedTestApp } from './distributed-app.js';
import { sumMetric } from './metrics-text.js';
import { waitFor } from './services.js';

const RULES = 'test/fixtures/arrival-order-rules.yaml';

export interface RunCounters {
  accepted: number;
  late: number;
  refused: number;
  lateApplied: number;
}

export interface RunResult {
  outcomes: Record<string, string>;
  flags: Record<string, Record<string, string>>;
  counters: RunCounters;
  /** The oracle's refused (too late) and late counts over the whole recorded log. */
  oracle: { refused: number; late: number };
  sent: HistoryResult;
  verdictStreamsMatchReplay: boolean;
  /** Users reached at feat_cart's early activation landmark (10 min in its rule), over the partitions' latest stats. */
  earlyReached: number;
}

export interface RunOptions {
  order: ArrivalOrder;
  distributed: boolean;
  /** Aggregation settings over the config's defaults. */
  aggregation?: Partial<Config['aggregation']>;
  skew?: HistoryOptions['skew'];
  tailMs?: HistoryOptions['tailMs'];
  /** Features expected to be judged (default: all three); others may have had all data refused. */
  judged?: readonly string[];
  /** Runs halfway through the history (every service still sending), with the app's /metrics text. */
  midway?: (metrics: () => Promise<string>) => Promise<void>;
}

export async function runOrder(o: RunOptions): Promise<RunResult> {
  const { order, distributed } = o;
  const judged = o.judged ?? HISTORY_FEATURES;
  const stack = new DistributedTestApp(`ao-${order}`, { embedded: !distributed });
  try {
    const rules = await loadRulesFile(RULES);
    const app = await stack.start(rules, {}, { rulesFile: RULES, configure: (c) => ({ ...c, aggregation: { ...c.aggregation, ...o.aggregation } }) });
    const config = stack.config;
    const admin = async (path: string) => (await fetch(`http://127.0.0.1:${app.adminPort()}${path}`)).json();
    const metrics = async () => (await fetch(`http://127.0.0.1:${app.adminPort()}/metrics`)).text();
    // A declared feature is known before any data: 200 with no cohorts yet.
    const before = await fetch(`http://127.0.0.1:${app.adminPort()}/v1/flags/feat_cart`);
    expect(before.status).toBe(200);

    const sent = await sendHistory({
      endpoint: `http://127.0.0.1:${app.receiverPort()}`, order, startMs: Date.now() - 7 * 3600_000 - (order === 'mobile' ? 2 * 24 * 3600_000 : 0),
      skew: o.skew, tailMs: o.tailMs, midway: o.midway && (() => o.midway!(metrics)),
    });
    // Settled: every judged feature judged at a step past its whole history, the rollback
    // applied, and the aggregator has consumed every record.
    const outcomes = await waitFor(
      async () => {
        const out: Record<string, string> = {};
        for (const f of judged) {
          for (const v of app.latestVerdicts(f)) {
            if (Date.parse(v.evaluatedAt) < sent.endMs - 40 * 60_000) return undefined;
            out[`${f}/${v.cohort}`] = v.outcome;
          }
        }
        const flag = await admin('/v1/flags/feat_slow_recs');
        // Guarded cohorts get their rows from the verdicts topic, asynchronously: wait for them too.
        const rows = await Promise.all(judged.filter((f) => f !== 'feat_slow_recs').map(async (f) => (await admin(`/v1/flags/${f}`)).cohorts?.treatment));
        const lag = sumMetric(await metrics(), 'pmf_stage_consumer_lag_records');
        return Object.keys(out).length === 2 * judged.length && flag.cohorts?.treatment?.state === 'off' && rows.every(Boolean) && lag === 0 ? out : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, message: `${order}: verdicts did not settle` },
    );
    const flags: Record<string, Record<string, string>> = {};
    for (const f of HISTORY_FEATURES) {
      const body = await admin(`/v1/flags/${f}`);
      flags[f] = Object.fromEntries(Object.entries((body.cohorts ?? {}) as Record<string, { state: string }>).map(([c, v]) => [c, v.state]));
    }
    const text = await metrics();
    expect(text).toMatch(/pmf_aggregator_watermark_lag_seconds\{partition="\d+"\} \d+/);
    const counters = {
      accepted: sumMetric(text, 'pmf_aggregator_events_accepted_total'),
      late: sumMetric(text, 'pmf_aggregator_events_late_total'),
      refused: sumMetric(text, 'pmf_aggregator_events_too_late_total'),
      lateApplied: sumMetric(text, 'pmf_aggregator_late_effects_applied_total'),
    };
    await app.stop();

    // The live verdict stream, per feature, against a replay of the recorded log.
    const log = createLog(config, systemClock, silentLogger);
    let verdictStreamsMatchReplay = false;
    const oracle = { refused: 0, late: 0 };
    let earlyReached = 0;
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
        for (const p of batch.records.flatMap((r) => decodeCohortStats(r.value))) {
          const prev = latest.get(`${p.feature}|${p.partition}`);
          if (!prev || compareSnapshotPositions(p, prev) > 0) latest.set(`${p.feature}|${p.partition}`, p);
        }
      }
      const a = aggregatorSettings(config);
      // A pmf.events.v2 record carries several events; the oracle sees them one by one (and a watermark marker as one).
      const eventsOf = (partition: number): (OracleRecord | OracleMarker)[] =>
        (recorded.partitions.get(partition) ?? []).flatMap((r): (OracleRecord | OracleMarker)[] => (r.marks ? [{ marks: r.marks, offset: r.offset }] : r.events.map((event, k) => ({ event, offset: r.offset, continuesRecord: k > 0 }))));
      for (const [key, p] of latest) {
        const records = upToPosition(eventsOf(p.partition), p);
        const want = oracleAggregate(records, { ...a, partition: p.partition, rules }).partials.filter((c) => c.feature === p.feature);
        expect(p.cohorts, `${order}: published aggregates of ${key}`).toEqual(atPosition(want, p));
        // feat_cart's rule sets a 10 min early landmark: every cohort publishes its early counts.
        if (p.feature !== 'feat_cart') continue;
        for (const c of p.cohorts) expect(c.activation.early?.afterMs, `${order}: early counts of ${key}/${c.cohort}`).toBe(600_000);
        earlyReached += p.cohorts.reduce((sum, c) => sum + (c.activation.early?.reached ?? 0), 0);
      }
      for (const partition of recorded.partitions.keys()) {
        const whole = oracleAggregate(eventsOf(partition), { ...a, partition, rules });
        oracle.refused += whole.tooLate;
        oracle.late += whole.lateEvents;
      }
    } finally {
      await log.close();
    }

    console.info(JSON.stringify({ arrivalOrder: order, distributed, aggregation: o.aggregation, skew: o.skew, spans: sent.spans, edgeSpans: sent.edgeSpans, ...counters, oracle }));
    return { outcomes, flags, counters, oracle, sent, verdictStreamsMatchReplay, earlyReached };
  } finally {
    await stack.stop();
  }
}
