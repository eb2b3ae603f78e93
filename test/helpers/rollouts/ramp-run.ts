// The loop of a rollout test: send a step of users, wait until the verdict engine has judged up to
// that step's watermark and the flag store serves what the engine decided, note what changed, and
// go on until the rollout settles. Shared by the embedded and the distributed end-to-end tests.
//
// "That step's watermark" is the lowest of the partitions' watermarks: the engine judges a step
// once every partition of the events topic has passed it. Users go to partitions by a keyed hash
// (the pseudonym key is random per data directory), so now and then one of the six partitions gets
// none of a step's last users; its newest event is then a minute or more older than the others',
// and it holds the step until its next event. Live traffic brings that event; this loop does not
// send more until the step is judged, so it waits for what the data sent can reach: the step the
// aggregator's lowest watermark has crossed, once the aggregator has applied everything.

import { recordEvaluation } from '../../../src/client/evaluation-recorder.js';
import { bucketOf, inAllocation } from '../../../src/client/allocation.js';
import type { FlagEvaluation } from '../../../src/client/flag-client.js';
import type { RolloutView } from '../../../src/events/verdict.js';
import { perPartition, stageLag } from '../metrics-text.js';
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
  /** The verdict engine's step of event time (ms): verdict.stepSeconds. */
  verdictStepMs?: number;
  /** Partitions of the events topic (kafka.partitions): the engine waits for each of them. */
  eventPartitions: number;
}

export async function runRamp(o: RampRunOptions): Promise<RampObservation[]> {
  const seen: RampObservation[] = [];
  const lateness = o.latenessMs ?? 300_000;
  const stepMs = o.verdictStepMs ?? 60_000;
  for (let step = 0; step < o.maxSteps; step++) {
    await o.beforeStep?.();
    const sent = await o.driver.step();
    // Partials are published as the stage consumes: wait for the one at this step's watermark,
    // or at the step the lowest partition's watermark reached when that is earlier (see the header).
    const wanted = sent.toMs - lateness - 30_000;
    let reached: number | undefined;
    const status = await waitFor(
      async () => {
        reached ??= await reachedStep(o.api, o.eventPartitions, stepMs);
        const judgedTo = Math.min(wanted, reached ?? wanted);
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

/**
 * The step (event time) that every partition's watermark has crossed, once the aggregator in the
 * process behind `api` has applied every record in the events log; undefined before that, while a
 * partition has no data yet, or when that process runs no aggregator. Nothing more is sent
 * meanwhile, so the answer is final.
 */
async function reachedStep(api: AdminApi, partitions: number, stepMs: number): Promise<number | undefined> {
  const metrics = await api.text('/metrics');
  const watermarks = [...perPartition(metrics, 'pmf_aggregator_watermark_seconds').values()];
  // The lag counts only partitions the aggregator has read from: each must have a watermark too.
  if (stageLag(metrics, 'aggregator') !== 0 || watermarks.length < partitions) return undefined;
  const lowest = Math.round(Math.min(...watermarks) * 1000);
  return Math.floor(lowest / stepMs) * stepMs;
}

/** The audit log of the feature, oldest first, one line per entry (what the report pastes). */
export async function auditTrail(api: AdminApi, feature: string): Promise<string[]> {
  const { entries } = await api.get(`/v1/flags/${feature}/audit?limit=1000`);
  return entries
    .reverse()
    .map((e: any) => `v${e.version} ${e.cohort} ${e.action} ${e.fromState ?? '-'}→${e.toState} allocation ${e.fromAllocation ?? '-'}→${e.toAllocation ?? '-'} [${e.source}${e.actor ? ` ${e.actor}` : ''}] ${e.outcome}: ${e.reason.slice(0, 140)}`);
}
