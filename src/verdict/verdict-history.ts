// A bounded, in-memory history of the verdicts of every (feature, cohort): the last verdict and the
// last N points (event time, outcome, each metric's estimate, bounds and n) that the status page
// charts and the per-cohort Prometheus gauges read. Pure: fed with verdicts, as they are published
// and, at start, as read back from the verdicts topic, so it survives a restart. Bounded per cohort
// (N from config) and in cohorts (features × cohorts are bounded by the rules and the cardinality caps).

import type { MetricVerdict, Outcome, Verdict } from '../events/verdict.js';

export const METRIC_NAMES = ['activation', 'retention', 'latencyP95'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** One guard's point on a chart: the verdict's metric fields as they were at that step. */
export type MetricPoint = MetricVerdict;

export interface HistoryPoint {
  /** Event time (ms) of the verdict. */
  at: number;
  outcome: Outcome;
  metrics: Record<MetricName, MetricPoint>;
}

export interface CohortHistory {
  feature: string;
  cohort: string;
  latest: Verdict;
  /** The verdict at which the outcome last changed (the "last change" and its reason). */
  lastChange: Verdict;
  /** Oldest first, at most `maxPoints`. */
  points: HistoryPoint[];
}

export class VerdictHistory {
  private readonly cohorts = new Map<string, CohortHistory>();
  private readonly seen = new Set<string>();
  /** Ids in the order remembered; those before `seenHead` are forgotten (dropped in bulk, see remember). */
  private seenOrder: string[] = [];
  private seenHead = 0;

  constructor(private readonly maxPoints: number) {
    if (!Number.isInteger(maxPoints) || maxPoints < 1) throw new RangeError(`maxPoints must be a positive integer; got ${maxPoints}`);
  }

  /**
   * Adds one verdict, in the order the verdict stage published it (which decides `latest`); a
   * verdict already seen (re-delivery, read-back overlap) is ignored. Points are kept sorted by
   * event time: the merged watermark of a feature can step back when a partition reports late, so
   * arrival order and event time may disagree.
   */
  add(v: Verdict): void {
    if (this.seen.has(v.verdictId)) return;
    this.remember(v.verdictId);
    const key = `${v.feature}\u0000${v.cohort}`;
    const at = Date.parse(v.evaluatedAt);
    const point: HistoryPoint = {
      at,
      outcome: v.outcome,
      metrics: Object.fromEntries(METRIC_NAMES.map((m) => [m, pick(v.metrics[m])])) as Record<MetricName, MetricPoint>,
    };
    const h = this.cohorts.get(key);
    if (!h) {
      this.cohorts.set(key, { feature: v.feature, cohort: v.cohort, latest: v, lastChange: v, points: [point] });
      return;
    }
    if (v.outcome !== h.latest.outcome) h.lastChange = v;
    h.latest = v;
    let i = h.points.length;
    while (i > 0 && h.points[i - 1].at > at) i--;
    h.points.splice(i, 0, point);
    if (h.points.length > this.maxPoints) h.points.splice(0, h.points.length - this.maxPoints);
  }

  features(): string[] {
    return [...new Set([...this.cohorts.values()].map((h) => h.feature))].sort();
  }

  /** One cohort's history, if it has a verdict. */
  get(feature: string, cohort: string): CohortHistory | undefined {
    return this.cohorts.get(`${feature}\u0000${cohort}`);
  }

  /** One feature's cohorts (or all when feature is omitted), sorted by feature then cohort. */
  list(feature?: string, cohort?: string): CohortHistory[] {
    return [...this.cohorts.values()]
      .filter((h) => (feature === undefined || h.feature === feature) && (cohort === undefined || h.cohort === cohort))
      .sort((a, b) => a.feature.localeCompare(b.feature) || a.cohort.localeCompare(b.cohort));
  }

  latest(feature: string, cohort?: string): Verdict[] {
    return this.list(feature, cohort).map((h) => h.latest);
  }

  // The id set only guards against re-reads of recent verdicts; it is bounded like the points.
  // Forgetting the oldest id must cost O(1): the verdict stage adds every heartbeat here on its
  // hot path, and shift() on an array this long (up to 2 × points × cohorts ids, 200 k at 100
  // features) moves the whole array each time, which was a quarter of the loop bench's CPU.
  private remember(id: string): void {
    this.seen.add(id);
    this.seenOrder.push(id);
    const cap = this.maxPoints * Math.max(this.cohorts.size, 1) * 2;
    while (this.seenOrder.length - this.seenHead > cap) this.seen.delete(this.seenOrder[this.seenHead++]);
    if (this.seenHead > 1024 && this.seenHead * 2 > this.seenOrder.length) {
      this.seenOrder = this.seenOrder.slice(this.seenHead);
      this.seenHead = 0;
    }
  }
}

function pick(m: MetricPoint): MetricPoint {
  return { n: m.n, estimate: m.estimate, lower: m.lower, upper: m.upper, threshold: m.threshold, status: m.status };
}
