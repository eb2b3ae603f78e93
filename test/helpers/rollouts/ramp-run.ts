// The loop of a rollout test: send a step of users, wait until the verdict engine has judged up to
// that step's watermark and the flag store serves what the engine decided, note what changed, and
// go on until the rollout settles. Shared by the embedded and the distributed end-to-end tests,
// with the teardown of what an embedded one starts (EmbeddedRampParts).
//
// "That step's watermark": the engine judges a step once every partition of the events topic has
// passed it. Users go to partitions by a keyed hash, so now and then one of the six partitions gets
// none of a step's last users; the receiver then writes a watermark marker to it once it has been
// quiet for receiver.markIdleMs (5 s by default) with the latest event time it published, and that
// partition's watermark reaches the step too (docs/aggregation.md). So the loop waits for the
// whole step the data sent reaches, as live traffic would, without sending more meanwhile.

import { rmSync } from 'node:fs';
import type { App } from '../../../src/app/build-app.js';
import { recordEvaluation } from '../../../src/client/evaluation-recorder.js';
import { bucketOf, inAllocation } from '../../../src/client/allocation.js';
import type { FlagEvaluation } from '../../../src/client/flag-client.js';
import type { RolloutView } from '../../../src/events/verdict.js';
import { waitFor } from '../services.js';
import type { RampDriver } from './ramp-driver.js';

export const RAMP_FEATURE = 'feat_ramp';

/** The rule every rollout test uses: small gates, a 1 → 10 → 50 → 100 ramp in event time. */
export function rampRules(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    version: 'ramp-test',
    rules: [{
      featureId: RAMP_FEATURE,
      activationThreshold: 0.1, retentionThreshold: 0.3, latencyP95Threshold: 300,
      minCohortSize: 20, evaluationWindowSeconds: 600,
      retention: { returnAfterSeconds: 60, windowSeconds: 600 },
      latency: { spanName: 'GET /dashboard' },
      // The application assigns 90 % of users to the treatment; the SRM check expects the shares
      // the allocation in force implies (0.9 % treatment at stage 1), so a ramp is not a mismatch.
      cohorts: { control: 'control', guarded: ['treatment'], expectedShares: { control: 1, treatment: 9 } },
      rollout: {
        stages: [{ percent: 1, minDurationSeconds: 1800, minUsers: 15 }, { percent: 10, minDurationSeconds: 1800 }, { percent: 50, minDurationSeconds: 1200 }, { percent: 100 }],
        advanceWhen: 'no-regression',
      },
      ...extra,
    }],
  });
}

export interface AdminApi {
  get(path: string): Promise<any>;
  text(path: string): Promise<string>;
  post(path: string, body: unknown): Promise<{ status: number; body: any }>;
}

export function adminApi(base: () => string, token: string): AdminApi {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  return {
    async get(path) {
      const res = await fetch(`${base()}${path}`, { headers });
      return res.json();
    },
    async text(path) {
      const res = await fetch(`${base()}${path}`, { headers });
      return res.text();
    },
    async post(path, body) {
      const res = await fetch(`${base()}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
      return { status: res.status, body: await res.json() };
    },
  };
}

/** An application without Redis (the embedded default): reads GET /v1/flags and buckets as the client does. */
export function adminFlagReader(api: AdminApi, feature: string) {
  let flag: any;
  return {
    async refresh(): Promise<void> {
      flag = await api.get(`/v1/flags/${feature}`);
    },
    async evaluate(userId: string, cohort: string): Promise<FlagEvaluation> {
      const c = flag.cohorts[cohort];
      let e: FlagEvaluation;
      if (!c) e = { feature, cohort, enabled: false, version: flag.version, reason: 'DEFAULT' };
      else if (c.allocation === undefined) e = { feature, cohort, enabled: c.state === 'on', version: flag.version, reason: 'TARGETING_MATCH' };
      else {
        const bucket = bucketOf(feature, c.rollout.salt, userId);
        const included = inAllocation(bucket, c.allocation);
        const allocation = { cohort, percent: c.allocation, bucket, included };
        e = included
          ? { feature, cohort, enabled: c.state === 'on', version: flag.version, reason: 'TARGETING_MATCH', allocation }
          : { feature, cohort: c.rollout.control, enabled: false, version: flag.version, reason: 'SPLIT', allocation };
      }
      recordEvaluation(e, userId);
      return e;
    },
  };
}

export interface RampObservation {
  step: number;
  eventTime: string;
  served: Record<string, number>;
  rollout: RolloutView;
  outcome: string;
  flag: { state: string; allocation?: number; version: number };
}

export interface RampRunOptions {
  driver: RampDriver;
  api: AdminApi;
  /** Called before each step, e.g. to refresh an application's flag view. */
  beforeStep?: () => Promise<void>;
  /** The flag as applications see it (Redis, or the admin API): state, allocation, version. */
  servedFlag: () => Promise<{ state: string; allocation?: number; version: number }>;
  maxSteps: number;
  /** Stop once this is true of the latest observation. */
  until: (o: RampObservation) => boolean;
  /** Lateness of the aggregator's watermark (ms). */
  latenessMs?: number;
}

export async function runRamp(o: RampRunOptions): Promise<RampObservation[]> {
  const seen: RampObservation[] = [];
  const lateness = o.latenessMs ?? 300_000;
  for (let step = 0; step < o.maxSteps; step++) {
    await o.beforeStep?.();
    const sent = await o.driver.step();
    // Partials are published as the stage consumes: wait for the verdict at this step's watermark.
    const judgedTo = sent.toMs - lateness - 30_000;
    const status = await waitFor(
      async () => {
        const s = await o.api.get(`/v1/rollouts/${RAMP_FEATURE}`);
        const c = s.cohorts?.find((x: { cohort: string }) => x.cohort === 'treatment');
        if (c?.evaluatedAt && Date.parse(c.evaluatedAt) >= judgedTo) return c;
        // Early small steps may not yet hold a treatment user: then the control's verdict says how far the engine got.
        if (c?.rollout) return undefined;
        const { verdicts } = await o.api.get(`/v1/verdicts?feature=${RAMP_FEATURE}`);
        const judged = verdicts.some((v: { evaluatedAt: string }) => Date.parse(v.evaluatedAt) >= judgedTo);
        return judged ? { ...c, rollout: { status: 'ramping', percent: (await o.servedFlag()).allocation, stage: 1, stageStartedAt: '', reason: 'no treatment user yet' } } : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, message: `the engine did not judge step ${step}` },
    );
    // What the engine decided is served before the next users arrive.
    const flag = await waitFor(
      async () => {
        const f = await o.servedFlag();
        const off = status.rollout.status === 'rolled-back' || status.rollout.status === 'aborted';
        return f.allocation === status.rollout.percent && f.state === (off ? 'off' : 'on') ? f : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50, message: `the flag did not follow the engine at step ${step}` },
    );
    const observation = { step, eventTime: new Date(sent.toMs).toISOString(), served: sent.served, rollout: status.rollout, outcome: status.outcome, flag };
    seen.push(observation);
    if (o.until(observation)) break;
  }
  return seen;
}

/** The app, ramp driver and data directory an embedded rollout test started, for its afterEach. */
export class EmbeddedRampParts {
  app: App | undefined;
  driver: RampDriver | undefined;
  dir: string | undefined;

  /** Closes the driver, stops the app and removes the directory; idempotent (each part is dropped first). */
  async stop(): Promise<void> {
    const { app, driver, dir } = this;
    this.app = this.driver = this.dir = undefined;
    await driver?.close();
    await app?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** The audit log of the feature, oldest first, one line per entry (what the report pastes). */
export async function auditTrail(api: AdminApi, feature: string): Promise<string[]> {
  const { entries } = await api.get(`/v1/flags/${feature}/audit?limit=1000`);
  return entries
    .reverse()
    .map((e: any) => `v${e.version} ${e.cohort} ${e.action} ${e.fromState ?? '-'}→${e.toState} allocation ${e.fromAllocation ?? '-'}→${e.toAllocation ?? '-'} [${e.source}${e.actor ? ` ${e.actor}` : ''}] ${e.outcome}: ${e.reason.slice(0, 140)}`);
}
