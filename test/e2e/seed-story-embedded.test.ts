// The seed story end to end on the embedded default: a real OpenTelemetry SDK exporter sends the
// 450 ms /dashboard regression; pmf-guard must fail the treatment on latency, turn its flag off, and
// leave the control alone, all observed through the admin API as a user would.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app/build-app.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { loadRulesFile } from '../../src/config/rules-file.js';
import { sendSeedScenario } from '../helpers/seed-scenario.js';
import { waitFor } from '../helpers/services.js';

describe('seed story on the embedded default', () => {
  let app: App;
  let dataDir: string;
  const admin = (path: string) => fetch(`http://127.0.0.1:${app.adminPort()}${path}`);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pmf-e2e-'));
    const config = loadConfig({
      env: { PMF_GUARD_DATA_DIR: dataDir, PMF_GUARD_OTLP_GRPC_PORT: '0', PMF_GUARD_OTLP_HTTP_PORT: '0', PMF_GUARD_ADMIN_PORT: '0' },
      rulesFile: 'test/fixtures/seed-rules.yaml',
    });
    app = await buildApp(config, await loadRulesFile(config.rulesFile!), { logger: silentLogger });
    await app.start();
  });

  afterAll(async () => {
    await app?.stop(); // idempotent: the test itself stops it before replaying
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('fails the treatment on latency, turns it off, and leaves the control on', async () => {
    const health = await admin('/readyz');
    expect(health.status).toBe(200);

    const flagBefore = await (await admin('/v1/flags/feat_smart_recs_v1')).json();
    expect(flagBefore.cohorts.treatment.state).toBe('on');

    const sent = await sendSeedScenario({ endpoint: `http://127.0.0.1:${app.receiverPort()}`, startMs: Date.now() - 5 * 3600_000 });
    expect(sent.users).toBeGreaterThan(10_000);

    const verdicts = await waitFor(
      async () => {
        const body = await (await admin('/v1/verdicts?feature=feat_smart_recs_v1')).json();
        const treatment = body.verdicts.find((v: { cohort: string }) => v.cohort === 'treatment');
        return treatment?.outcome === 'fail' ? body.verdicts : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250, message: 'treatment verdict did not become fail' },
    );
    const treatment = verdicts.find((v: { cohort: string }) => v.cohort === 'treatment');
    const control = verdicts.find((v: { cohort: string }) => v.cohort === 'control');
    expect(treatment.metrics.latencyP95.status).toBe('fail');
    expect(treatment.metrics.latencyP95.estimate).toBeGreaterThan(450);
    expect(treatment.reason).toMatch(/latency/);
    expect(control?.outcome).not.toBe('fail');

    const flag = await waitFor(
      async () => {
        const body = await (await admin('/v1/flags/feat_smart_recs_v1')).json();
        return body.cohorts.treatment.state === 'off' ? body : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, message: 'treatment flag was not turned off' },
    );
    expect(flag.cohorts.treatment.reason).toMatch(/latency/);
    expect(flag.cohorts.control).toBeUndefined();

    // What an operator sees: counts at every stage, and no lag once the stream is consumed.
    const metrics = await (await admin('/metrics')).text();
    expect(metrics).toMatch(/pmf_receiver_records_received_total\{signal="traces"\} [1-9]\d*/);
    expect(metrics).toMatch(/pmf_aggregator_events_accepted_total\{partition="\d+"\} [1-9]\d*/);
    expect(metrics).toMatch(/pmf_aggregator_memory_bytes\{partition="\d+",part="state"\} [1-9]\d*/);
    expect(metrics).toMatch(/pmf_stage_consumer_lag_records\{stage="aggregator"\} \d+/);
    expect(metrics).toMatch(/pmf_stage_consumer_lag_seconds\{stage="aggregator"\} [\d.]+/);
    expect(metrics).toMatch(/pmf_verdict_cohorts\{outcome="fail"\} 1/);
    expect(metrics).toMatch(/pmf_flag_commands_total\{status="applied"\} 1/);

    // Replay the recorded log offline, twice: the same rollback, byte-identical output.
    await app.stop();
    const env = { PATH: process.env.PATH ?? '', PMF_GUARD_DATA_DIR: dataDir };
    const replayOnce = () => execFileSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'replay', '--rules', 'test/fixtures/seed-rules.yaml'], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
    const first = replayOnce();
    expect(replayOnce()).toBe(first);
    const lines = first.trim().split('\n').map((l) => JSON.parse(l));
    const summary = lines[lines.length - 1];
    expect(summary.type).toBe('summary');
    expect(summary.events).toBeGreaterThan(30_000);
    expect(summary.rollbacks.map((r: { cohort: string }) => r.cohort)).toEqual(['treatment']);
    expect(lines.some((l) => l.type === 'verdict' && l.cohort === 'control' && l.outcome === 'fail')).toBe(false);

    // The exported file replays to the same verdicts as the log itself.
    const exported = join(dataDir, 'events.jsonl');
    execFileSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'export', '--out', exported], { env, encoding: 'utf8' });
    const fromFile = execFileSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'replay', '--rules', 'test/fixtures/seed-rules.yaml', '--input', exported], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(fromFile).toBe(first);
  });
});

describe('A/A run on the embedded default', () => {
  it('rolls back nothing when both cohorts are healthy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmf-e2e-aa-'));
    const config = loadConfig({
      env: { PMF_GUARD_DATA_DIR: dir, PMF_GUARD_OTLP_GRPC_PORT: '0', PMF_GUARD_OTLP_HTTP_PORT: '0', PMF_GUARD_ADMIN_PORT: '0' },
      rulesFile: 'test/fixtures/seed-rules.yaml',
    });
    const aa = await buildApp(config, await loadRulesFile(config.rulesFile!), { logger: silentLogger });
    await aa.start();
    try {
      await sendSeedScenario({ endpoint: `http://127.0.0.1:${aa.receiverPort()}`, startMs: Date.now() - 6 * 3600_000, durationMs: 5 * 3600_000, treatmentExtraMs: 0, seed: 7 });
      // Wait until the verdicts reflect the whole stream (both cohorts judged), then check nothing failed.
      const verdicts = await waitFor(
        () => {
          const v = aa.latestVerdicts('feat_smart_recs_v1');
          return v.length === 2 && v.every((x) => x.outcome !== 'pending' || x.metrics.latencyP95.status !== 'pending') ? v : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 250, message: "A/A verdicts did not arrive" },
      ).catch(async (err) => {
        const metrics = await (await fetch(`http://127.0.0.1:${aa.adminPort()}/metrics`)).text();
        throw new Error(`${err.message}; latest: ${JSON.stringify(aa.latestVerdicts('feat_smart_recs_v1').map((v) => [v.cohort, v.outcome, v.reason]))}\n${metrics}`);
      });
      for (const v of verdicts) expect(v.outcome, v.reason).not.toBe('fail');
      expect(verdicts.find((v) => v.cohort === 'treatment')!.metrics.latencyP95.status).toBe('pass');
      const flag = await (await fetch(`http://127.0.0.1:${aa.adminPort()}/v1/flags/feat_smart_recs_v1`)).json();
      expect(flag.cohorts.treatment.state).toBe('on');
      // Over the whole recorded log, not just up to now: a replay would have rolled back nothing.
      await aa.stop();
      const out = execFileSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'replay', '--rules', 'test/fixtures/seed-rules.yaml'], {
        env: { PATH: process.env.PATH ?? '', PMF_GUARD_DATA_DIR: dir }, encoding: 'utf8', maxBuffer: 64 << 20,
      });
      const summary = JSON.parse(out.trim().split('\n').pop()!);
      expect(summary.events).toBeGreaterThan(30_000);
      expect(summary.rollbacks).toEqual([]);
    } finally {
      await aa.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
