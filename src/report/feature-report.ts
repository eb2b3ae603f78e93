// The zombie-feature report: per feature, over an event-time period, how many users and requests it
// was exposed to, how much span time it cost (a compute proxy), how many of its users activated, its
// verdict, and whether it is a zombie (exposed, costing, and almost unused). Pure: built from the
// cumulative cohort snapshots of pmf.cohort-stats.v1 and the latest verdicts.
//
// Snapshots are cumulative per (feature, cohort, source partition), so what happened in [from, to)
// is the last snapshot with watermark < to minus the last with watermark < from, summed over
// partitions. Users are counted at their first exposure; activation over users whose window matured
// in the period. Span time is the latency histogram's mean × count (its ~1 % relative precision is
// plenty for a cost proxy) over the spans the rule's latency guard measures.

import type { CohortPartial } from '../events/cohort-stats.js';
import { compareSnapshotPositions, type FeaturePartial } from '../events/feature-partial.js';
import type { Outcome, Verdict } from '../events/verdict.js';
import { LatencyHistogram } from '../events/latency-histogram.js';
import { pmfScore } from './pmf-score.js';

export interface CohortReport {
  cohort: string;
  exposedUsers: number;
  requests: number;
  spanSeconds: number;
  activated: number;
  matured: number;
  activationRate: number | null;
  outcome: Outcome | null;
  pmfScore: number | null;
}

export interface FeatureReport {
  feature: string;
  exposedUsers: number;
  requests: number;
  /** Total span time of the measured spans, seconds. */
  spanSeconds: number;
  activationRate: number | null;
  /** Worst outcome among the cohorts' latest verdicts (fail > invalid > inconclusive > pending > pass). */
  outcome: Outcome | null;
  zombie: boolean;
  /** Why it is (or is not) marked. */
  zombieReason: string;
  cohorts: CohortReport[];
}

export interface Report {
  /** Period start (ISO 8601, event time), or null from the first record kept. */
  from: string | null;
  /** Period end (exclusive), or null up to the latest record. */
  to: string | null;
  engagementFloor: number;
  features: FeatureReport[];
}

interface Totals {
  exposed: number;
  requests: number;
  spanMs: number;
  activated: number;
  matured: number;
}

const ZERO: Totals = { exposed: 0, requests: 0, spanMs: 0, activated: 0, matured: 0 };
const SEVERITY: Outcome[] = ['pass', 'pending', 'inconclusive', 'invalid', 'fail'];

function totals(c: CohortPartial | undefined): Totals {
  if (!c) return ZERO;
  let spanMs = 0;
  if (c.latency.count > 0 && c.latency.histogram) spanMs = LatencyHistogram.fromBase64(c.latency.histogram).mean * c.latency.count;
  return { exposed: c.exposed, requests: c.latency.count, spanMs, activated: c.activation.successes, matured: c.activation.matured };
}

/** Accumulates snapshots as they are read, keeping per (feature, cohort, partition) the two that bound the period. */
export class ReportBuilder {
  // feature → cohort → partition → [last before from, last before to]
  private readonly at = new Map<string, Map<string, Map<number, [CohortPartial | undefined, CohortPartial | undefined]>>>();

  private readonly from: number;
  private readonly to: number;

  constructor(private readonly period: { from?: number; to?: number } = {}) {
    this.from = period.from ?? Number.NEGATIVE_INFINITY;
    this.to = period.to ?? Number.POSITIVE_INFINITY;
  }

  add(p: FeaturePartial): void {
    for (const c of p.cohorts) {
      const byCohort = this.at.get(c.feature) ?? new Map();
      this.at.set(c.feature, byCohort);
      const byPartition = byCohort.get(c.cohort) ?? new Map();
      byCohort.set(c.cohort, byPartition);
      const slot = byPartition.get(c.partition) ?? [undefined, undefined];
      byPartition.set(c.partition, slot);
      // Snapshots of a partition are cumulative: the latest one (by log position) below each bound wins.
      const newer = (old: CohortPartial | undefined) => !old || compareSnapshotPositions(c, old) > 0;
      if (c.watermark < this.from && newer(slot[0])) slot[0] = c;
      if (c.watermark < this.to && newer(slot[1])) slot[1] = c;
    }
  }

  build(latest: (feature: string) => Verdict[], features: readonly string[], engagementFloor: number): Report {
    const names = [...new Set([...features, ...this.at.keys()])].sort();
    const out: FeatureReport[] = names.map((feature) => {
      const verdicts = new Map(latest(feature).map((v) => [v.cohort, v]));
      const cohortNames = [...new Set([...(this.at.get(feature)?.keys() ?? []), ...verdicts.keys()])].sort();
      const cohorts: CohortReport[] = cohortNames.map((cohort) => {
        const d = { ...ZERO };
        for (const [before, end] of this.at.get(feature)?.get(cohort)?.values() ?? []) {
          const a = totals(before);
          const b = totals(end);
          for (const k of Object.keys(d) as (keyof Totals)[]) d[k] += Math.max(0, b[k] - a[k]);
        }
        const v = verdicts.get(cohort);
        return {
          cohort,
          exposedUsers: d.exposed,
          requests: d.requests,
          spanSeconds: round(d.spanMs / 1000),
          activated: d.activated,
          matured: d.matured,
          activationRate: d.matured > 0 ? round(d.activated / d.matured) : null,
          outcome: v?.outcome ?? null,
          pmfScore: v ? pmfScore(v) : null,
        };
      });
      const exposedUsers = cohorts.reduce((s, c) => s + c.exposedUsers, 0);
      const requests = cohorts.reduce((s, c) => s + c.requests, 0);
      const spanSeconds = round(cohorts.reduce((s, c) => s + c.spanSeconds, 0));
      const activated = cohorts.reduce((s, c) => s + c.activated, 0);
      const matured = cohorts.reduce((s, c) => s + c.matured, 0);
      const activationRate = matured > 0 ? round(activated / matured) : null;
      const outcomes = cohorts.map((c) => c.outcome).filter((o): o is Outcome => o !== null);
      const outcome = outcomes.length > 0 ? outcomes.reduce((w, o) => (SEVERITY.indexOf(o) > SEVERITY.indexOf(w) ? o : w)) : null;
      const { zombie, zombieReason } = zombieMark(exposedUsers, matured, activationRate, engagementFloor);
      return { feature, exposedUsers, requests, spanSeconds, activationRate, outcome, zombie, zombieReason, cohorts };
    });
    const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
    return { from: iso(this.period.from), to: iso(this.period.to), engagementFloor, features: out };
  }
}

function zombieMark(exposed: number, matured: number, rate: number | null, floor: number): { zombie: boolean; zombieReason: string } {
  if (exposed === 0 && matured === 0) return { zombie: false, zombieReason: 'no exposure in the period' };
  if (rate === null) return { zombie: false, zombieReason: 'no activation window matured in the period yet' };
  if (rate < floor) return { zombie: true, zombieReason: `activation ${pct(rate)} is below the engagement floor ${pct(floor)}` };
  return { zombie: false, zombieReason: `activation ${pct(rate)} is at or above the engagement floor ${pct(floor)}` };
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const round = (x: number) => Math.round(x * 10_000) / 10_000;
