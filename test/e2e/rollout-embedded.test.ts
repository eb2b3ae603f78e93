// Progressive rollouts end to end on the embedded default, with a real OpenTelemetry SDK exporter:
// a healthy feature ramps 1 → 10 → 50 → 100 % by itself in event time; a feature that regresses
// once its second stage exposes more users is rolled back (allocation 0 and off at one version)
// with its control untouched; a person pauses, resumes and aborts a rollout through the admin API.
// The application side buckets users from GET /v1/flags exactly as the flag client does.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app/build-app.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { parseRules } from '../../src/rules/load.js';
import { RampDriver } from '../helpers/rollouts/ramp-driver.js';
import { adminApi, adminFlagReader, auditTrail, EmbeddedRampParts, RAMP_FEATURE, rampRules, runRamp, type AdminApi } from '../helpers/rollouts/ramp-run.js';
import { waitFor } from '../helpers/services.js';

const TOKEN = 'rollout-e2e-token-0123456789';
// A fixed pseudonym key and a start 31 s past a minute make each run's data the same: which
// partition each user lands on, and where each step ends against the verdict steps. With these,
// the healthy ramp's steps 1, 17 and 44 leave one of the six partitions without any of the step's
// last 33 users; the receiver's watermark marker on that quiet partition (receiver.markIdleMs, on
// by default) lets the engine judge the whole step without the next step's users.
const PSEUDONYM_KEY = 'rollout-e2e-pseudonym-key-47';
const START_PAST_MINUTE_MS = 31_000;
// Small steps: the application reads the flag once per step, so users of a step sent after the
// engine's decision within it are still served the old allocation. With 2-minute steps that
// lag stays far below what the SRM check would notice (live, the flag follows within ~60 ms).
const STEP_MS = 2 * 60_000;
const USERS_PER_STEP = 120;

describe('progressive rollouts on the embedded default', () => {
  const parts = new EmbeddedRampParts();
  afterEach(() => parts.stop());

  async function start(seed: number, extraLatencyMs?: (percent: number, cohort: string) => number) {
    const dir = (parts.dir = mkdtempSync(join(tmpdir(), 'pmf-rollout-')));
    const config = loadConfig({
      env: { PMF_GUARD_DATA_DIR: dir, PMF_GUARD_OTLP_GRPC_PORT: '0', PMF_GUARD_OTLP_HTTP_PORT: '0', PMF_GUARD_ADMIN_PORT: '0', PMF_GUARD_BEARER_TOKEN: TOKEN, PMF_GUARD_PSEUDONYM_KEY: PSEUDONYM_KEY },
    });
    const app = (parts.app = await buildApp({ ...config, receiver: { ...config.receiver, grpc: { ...config.receiver.grpc, host: '127.0.0.1' } } }, parseRules(rampRules()), { logger: silentLogger }));
    await app.start();
    const api = adminApi(() => `http://127.0.0.1:${app.adminPort()}`, TOKEN);
    const reader = adminFlagReader(api, RAMP_FEATURE);
    const driver = (parts.driver = new RampDriver({
      endpoint: `http://127.0.0.1:${app.receiverPort()}`,
      token: TOKEN,
      feature: RAMP_FEATURE,
      startMs: Math.floor(Date.now() / 60_000) * 60_000 - 5 * 3600_000 + START_PAST_MINUTE_MS,
      stepMs: STEP_MS,
      usersPerStep: USERS_PER_STEP,
      treatmentShare: 0.9,
      seed,
      evaluate: (user, cohort) => reader.evaluate(user, cohort),
      extraLatencyMs: (e) => (extraLatencyMs && e.allocation ? extraLatencyMs(e.allocation.percent, e.cohort) : 0),
    }));
    const servedFlag = async () => {
      const f = await api.get(`/v1/flags/${RAMP_FEATURE}`);
      return { state: f.cohorts.treatment.state, allocation: f.cohorts.treatment.allocation, version: f.version };
    };
    return { app, driver, api, reader, servedFlag };
  }

  it('ramps a healthy feature 1 → 10 → 50 → 100 % by itself, in event time, every step in the audit log', async () => {
    const { app, driver, api, reader, servedFlag } = await start(11);
    const seen = await runRamp({ driver, api, beforeStep: () => reader.refresh(), servedFlag, maxSteps: 120, until: (o) => o.rollout.status === 'complete' });
    const percents = [...new Set(seen.map((o) => o.rollout.percent))];
    const story = seen.map((o) => `${o.step} ${o.outcome} ${o.rollout.status} ${o.rollout.percent} % ${o.rollout.waitingFor ?? ''}`).join('\n');
    expect(percents, `${story}\n${app.latestVerdicts(RAMP_FEATURE, 'treatment')[0]?.reason}`).toEqual([1, 10, 50, 100]);
    expect(seen.at(-1)!.rollout).toMatchObject({ status: 'complete', stage: 4, percent: 100 });
    // Stage 2 lasted its 30 minutes of event time before stage 3.
    const enteredAt = (percent: number) => Date.parse(seen.find((o) => o.rollout.percent === percent)!.rollout.stageStartedAt);
    expect(enteredAt(50) - enteredAt(10)).toBeGreaterThanOrEqual(1800_000);
    // Users served the treatment follow the allocation: about 0.9 % at first, about 90 % once complete.
    expect((seen[0].served.treatment ?? 0) / USERS_PER_STEP).toBeLessThan(0.05);
    await reader.refresh();
    const after = await driver.step();
    expect((after.served.treatment ?? 0) / USERS_PER_STEP).toBeGreaterThan(0.8);

    // Readable in the test's failure message: the whole trail.
    const trail = (await auditTrail(api, RAMP_FEATURE)).join('\n');
    const audit = (await api.get(`/v1/flags/${RAMP_FEATURE}/audit?limit=100`)).entries.reverse();
    expect(audit.map((e: any) => [e.action, e.toAllocation, e.source, e.outcome]), trail).toEqual([
      ['register', 1, 'rules', 'applied'],
      ['advance', 10, 'verdict', 'applied'],
      ['advance', 50, 'verdict', 'applied'],
      ['advance', 100, 'verdict', 'applied'],
      ['complete', 100, 'verdict', 'applied'],
    ]);
    expect(audit.slice(1).every((e: any) => e.evidence?.rollout && e.evidence.cohort === 'treatment')).toBe(true);
  }, 240_000);

  it('rolls back a feature that regresses at stage 2: allocation 0 and off at one version, control untouched', async () => {
    const { app, driver, api, reader, servedFlag } = await start(12, (percent, cohort) => (cohort === 'treatment' && percent >= 10 ? 450 : 0));
    const seen = await runRamp({ driver, api, beforeStep: () => reader.refresh(), servedFlag, maxSteps: 100, until: (o) => o.rollout.status === 'rolled-back' });
    const last = seen.at(-1)!;
    expect(last.rollout).toMatchObject({ status: 'rolled-back', percent: 0, stage: 0 });
    expect(last.rollout.reason).toMatch(/^rolled back at stage 2\/4 \(10 %\): fail: .*latency/);
    const flag = await api.get(`/v1/flags/${RAMP_FEATURE}`);
    expect(flag.cohorts.treatment).toMatchObject({ state: 'off', allocation: 0, rollout: { status: 'rolled-back' } });
    expect(flag.cohorts.control).toBeUndefined();
    const audit = (await api.get(`/v1/flags/${RAMP_FEATURE}/audit?limit=100`)).entries;
    const rollback = audit.find((e: any) => e.action === 'rollback');
    expect(rollback).toMatchObject({ fromState: 'on', toState: 'off', fromAllocation: 10, toAllocation: 0, version: flag.version, outcome: 'applied' });
    expect(audit.every((e: any) => e.cohort === 'treatment')).toBe(true);
    const control = app.latestVerdicts(RAMP_FEATURE, 'control')[0];
    expect(control.outcome).not.toBe('fail');
  }, 240_000);

  it('lets a person pause, resume and abort a rollout through the admin API, each step audited', async () => {
    const { app, driver, api, reader, servedFlag } = await start(13);
    const steer = (action: string, reason: string) => api.post(`/v1/rollouts/${RAMP_FEATURE}/cohorts/treatment/${action}`, { actor: 'ana', reason });
    await runRamp({ driver, api, beforeStep: () => reader.refresh(), servedFlag, maxSteps: 5, until: () => false });
    expect((await steer('pause', 'support tickets up')).status).toBe(202);
    await waitForStatus(api, 'paused');
    // Well past stage 1's minimums, a paused rollout stays at 1 %.
    const paused = await runRamp({ driver, api, beforeStep: () => reader.refresh(), servedFlag, maxSteps: 25, until: () => false });
    expect(paused.every((o) => o.rollout.percent === 1 && o.rollout.status === 'paused')).toBe(true);
    expect((await steer('resume', 'tickets explained')).status).toBe(202);
    await waitForStatus(api, 'ramping');
    const resumed = await runRamp({ driver, api, beforeStep: () => reader.refresh(), servedFlag, maxSteps: 15, until: (o) => o.rollout.percent === 10 });
    expect(resumed.at(-1)!.rollout.percent).toBe(10);
    expect((await steer('abort', 'pulling it for the release freeze')).status).toBe(202);
    await waitForStatus(api, 'aborted');
    await waitFor(async () => ((await servedFlag()).allocation === 0 ? true : undefined), { message: 'abort reached the flag' });
    expect(await servedFlag()).toMatchObject({ state: 'off', allocation: 0 });
    const unauthenticated = await fetch(`http://127.0.0.1:${app.adminPort()}/v1/rollouts/${RAMP_FEATURE}/cohorts/treatment/start`, { method: 'POST', body: '{"actor":"x","reason":"y"}' });
    expect(unauthenticated.status).toBe(401);
    const audit = (await api.get(`/v1/flags/${RAMP_FEATURE}/audit?limit=100`)).entries.reverse();
    expect(audit.map((e: any) => [e.action, e.source, e.actor, e.toAllocation])).toEqual([
      ['register', 'rules', null, 1],
      ['pause', 'manual', 'ana', 1],
      ['resume', 'manual', 'ana', 1],
      ['advance', 'verdict', null, 10],
      ['abort', 'manual', 'ana', 0],
    ]);
  }, 240_000);
});

async function waitForStatus(api: AdminApi, status: string): Promise<void> {
  await waitFor(
    async () => {
      const s = await api.get(`/v1/rollouts/${RAMP_FEATURE}`);
      const c = s.cohorts.find((x: { cohort: string }) => x.cohort === 'treatment');
      return c?.rollout?.status === status && c.flag?.rollout?.status === status ? true : undefined;
    },
    { timeoutMs: 30_000, message: `rollout did not become ${status}` },
  );
}
