// A quiet events partition on the embedded default, with a real OpenTelemetry SDK exporter: one
// burst of users, then nothing. Users go to the six partitions by keyed hash; with this pseudonym
// key and start (the rollout test's), the burst's last users miss one partition, so its
// watermark stays a step or more behind the others. The verdict engine judges a step only once
// every partition has passed it: without watermark markers the quiet partition holds the last
// step for as long as nothing more is sent; with them, the receiver marks the partitions it left
// quiet (receiver.markIdleMs) and the engine judges the step every other partition reached; the
// markers are records of the log, so a replay of it gives the live verdict stream exactly.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app/build-app.js';
import { createLog } from '../../src/app/create-log.js';
import { aggregatorSettings, createEvaluator, verdictSettings } from '../../src/app/stage-settings.js';
import { loadConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { isWatermarkMarker } from '../../src/events/watermark-marker.js';
import { readEventsFromFile, readEventsFromLog } from '../../src/replay/read-recorded-events.js';
import { runExport } from '../../src/replay/replay-command.js';
import { replay } from '../../src/replay/replay.js';
import { parseRules } from '../../src/rules/load.js';
import { perPartition, stageLag } from '../helpers/metrics-text.js';
import { RampDriver } from '../helpers/rollouts/ramp-driver.js';
import { adminApi, adminFlagReader, EmbeddedRampParts, RAMP_FEATURE, rampRules, type AdminApi } from '../helpers/rollouts/ramp-run.js';
import { waitFor } from '../helpers/services.js';

const TOKEN = 'quiet-partition-e2e-token-0123456789';
const PSEUDONYM_KEY = 'rollout-e2e-pseudonym-key-47';
const START_PAST_MINUTE_MS = 31_000;
const STEP_MS = 2 * 60_000;
const VERDICT_STEP_MS = 60_000;

interface Settled {
  /** Verdict step each partition's watermark crossed, once the aggregator applied everything. */
  steps: number[];
  /** The latest step the verdict engine judged. */
  judged: number;
  markers: number;
}

describe('a quiet events partition after a burst', () => {
  const parts = new EmbeddedRampParts();
  afterEach(() => parts.stop());

  /** Sends the burst (the rollout test's first two steps of users), then nothing; waits until `done` holds of what settled. */
  async function burst(markIdleMs: number, done: (s: Settled) => boolean): Promise<Settled> {
    const dir = (parts.dir = mkdtempSync(join(tmpdir(), 'pmf-quiet-')));
    const config = loadConfig({
      env: { PMF_GUARD_DATA_DIR: dir, PMF_GUARD_OTLP_GRPC_PORT: '0', PMF_GUARD_OTLP_HTTP_PORT: '0', PMF_GUARD_ADMIN_PORT: '0', PMF_GUARD_BEARER_TOKEN: TOKEN, PMF_GUARD_PSEUDONYM_KEY: PSEUDONYM_KEY },
    });
    const receiver = { ...config.receiver, markIdleMs, grpc: { ...config.receiver.grpc, host: '127.0.0.1' } };
    const app = (parts.app = await buildApp({ ...config, receiver }, parseRules(rampRules()), { logger: silentLogger }));
    await app.start();
    const api = adminApi(() => `http://127.0.0.1:${app.adminPort()}`, TOKEN);
    const reader = adminFlagReader(api, RAMP_FEATURE);
    const driver = (parts.driver = new RampDriver({
      endpoint: `http://127.0.0.1:${app.receiverPort()}`, token: TOKEN, feature: RAMP_FEATURE,
      startMs: Math.floor(Date.now() / 60_000) * 60_000 - 5 * 3600_000 + START_PAST_MINUTE_MS,
      stepMs: STEP_MS, usersPerStep: 120, treatmentShare: 0.9, seed: 11,
      evaluate: (user, cohort) => reader.evaluate(user, cohort),
    }));
    for (let step = 0; step < 2; step++) {
      await reader.refresh();
      await driver.step();
    }
    const partitions = app.config.kafka.partitions;
    return waitFor(async () => {
      const s = await settled(api, partitions);
      return s && done(s) ? s : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200, message: 'the pipeline did not settle' });
  }

  it('holds the last step without markers: one partition stays behind the others', async () => {
    const s = await burst(0, (x) => x.judged >= Math.min(...x.steps));
    expect(s.markers).toBe(0);
    expect(Math.min(...s.steps)).toBeLessThan(Math.max(...s.steps));
    expect(s.judged).toBeLessThan(Math.max(...s.steps));
  }, 120_000);

  it('judges the step every partition reached with markers, once the receiver marked its quiet partitions', async () => {
    const s = await burst(300, (x) => Math.min(...x.steps) === Math.max(...x.steps) && x.judged >= x.steps[0]);
    expect(s.markers).toBeGreaterThan(0);
    expect(s.judged).toBe(s.steps[0]);

    // The markers are in the log: a replay of it gives the live verdict stream exactly.
    const { config, topics } = parts.app!;
    await parts.app!.stop();
    parts.app = undefined;
    const log = createLog(config, systemClock, silentLogger);
    const replayOptions = () => {
      const v = verdictSettings(config);
      return { rules: parseRules(rampRules()), evaluator: createEvaluator(config), stepMs: v.stepMs, heartbeatMs: v.heartbeatMs, partitions: v.partitions, aggregation: aggregatorSettings(config) };
    };
    const live: string[] = [];
    try {
      for await (const batch of log.readAll!(topics.verdicts)) for (const r of batch.records) live.push(r.value.toString('utf8'));

      let markers = 0;
      for await (const batch of log.readAll!(topics.events)) markers += batch.records.filter((r) => isWatermarkMarker(r.value)).length;
      expect(markers).toBeGreaterThanOrEqual(s.markers);
      const recorded = await readEventsFromLog(log, topics.events);
      expect(live.length).toBeGreaterThan(0);
      expect(replay(recorded.partitions, replayOptions()).verdicts.map((x) => JSON.stringify(x))).toEqual(live);
    } finally {
      await log.close();
    }
    // And through `pmf-guard export` and `replay --input`: the markers travel in the file.
    const file = join(parts.dir!, 'events.jsonl');
    await runExport(config, silentLogger, file);
    const exported = await readEventsFromFile(file);
    expect(exported.rejected).toBe(0);
    expect(replay(exported.partitions, replayOptions()).verdicts.map((x) => JSON.stringify(x))).toEqual(live);
  }, 120_000);
});

/** What the aggregator and the engine reached, once the aggregator applied every record; undefined before. */
async function settled(api: AdminApi, partitions: number): Promise<Settled | undefined> {
  const metrics = await api.text('/metrics');
  const watermarks = perPartition(metrics, 'pmf_aggregator_watermark_seconds');
  if (stageLag(metrics, 'aggregator') !== 0 || watermarks.size < partitions) return undefined;
  const steps = [...watermarks.values()].map((w) => Math.floor(Math.round(w * 1000) / VERDICT_STEP_MS) * VERDICT_STEP_MS);
  const { verdicts } = await api.get(`/v1/verdicts?feature=${RAMP_FEATURE}`);
  const status = await api.get(`/v1/rollouts/${RAMP_FEATURE}`);
  const times = [...verdicts, ...(status.cohorts ?? [])].map((v: { evaluatedAt?: string }) => (v.evaluatedAt ? Date.parse(v.evaluatedAt) : Number.NEGATIVE_INFINITY));
  return { steps, judged: Math.max(Number.NEGATIVE_INFINITY, ...times), markers: Number(/^pmf_receiver_watermark_markers_total (\S+)$/m.exec(metrics)?.[1] ?? Number.NaN) };
}
