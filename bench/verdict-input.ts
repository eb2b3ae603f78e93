// The verdict benchmark's input: cohort-stats records (format 2) as the aggregators publish them in
// the loop benchmark. Features come to life one after another over the run (feature i gets its
// users during its own stretch of steps, as bench:loop gives each feature its own stretch of event
// time); every partition then reports every live feature at every step, the finished ones
// unchanged. Two cohorts per feature, no regression, so verdicts stay pending or pass and the
// evaluator does its full work at every step. Deterministic (seeded), so two runs see the same records.

import { COUNTS, StepSnapshotWriter, type CohortCapture } from '../src/events/cohort-stats-codec.js';
import { LatencyHistogram } from '../src/events/latency-histogram.js';
import { parseRules } from '../src/rules/load.js';
import { mulberry32 } from '../test/helpers/prng.js';

export const STEP_MS = 60_000;
export const T0 = Date.UTC(2026, 10, 1);
const COHORTS = ['control', 'treatment'] as const;

export interface InputOptions {
  features: number;
  steps: number;
  partitions: number;
  /** New users per step per live cohort per partition, and requests of each. */
  usersPerStep: number;
  requestsPerUser: number;
}

export function featureName(i: number): string {
  return `feat_${String(i).padStart(3, '0')}`;
}

/** The loop benchmark's rule, for every feature. */
export function benchRules(features: number) {
  return parseRules(JSON.stringify({
    version: 'bench-verdict',
    rules: Array.from({ length: features }, (_, i) => ({
      featureId: featureName(i),
      activationThreshold: 0.15,
      retentionThreshold: 0.4,
      latencyP95Threshold: 200,
      minCohortSize: 200,
      evaluationWindowSeconds: 3600,
      activation: { action: { spanName: 'recs.click' }, windowSeconds: 86_400 },
      retention: { returnAfterSeconds: 86_400, windowSeconds: 604_800 },
      latency: { spanName: 'dashboard.load' },
      cohorts: { control: 'control', guarded: ['treatment'] },
      alpha: 0.05,
      mode: 'enforce',
    })),
  }));
}

interface CohortData {
  firstExposureAt: number;
  counts: number[];
  histogram: LatencyHistogram;
}

/** Per step, the records of that step in the order the verdict stage reads them. */
export class InputStream {
  private readonly data = new Map<string, CohortData>();
  private readonly offsets: number[];
  private readonly rand = mulberry32(15);

  constructor(private readonly o: InputOptions) {
    this.offsets = new Array<number>(o.partitions).fill(0);
  }

  /** Features reported at step s: those whose stretch has begun. */
  liveFeatures(s: number): number {
    return Math.min(this.o.features, Math.floor((s * this.o.features) / this.o.steps) + 1);
  }

  /** The feature receiving users at step s. */
  private current(s: number): number {
    return this.liveFeatures(s) - 1;
  }

  records(s: number): Buffer[] {
    const step = T0 + (s + 1) * STEP_MS;
    const out: Buffer[] = [];
    const current = this.current(s);
    for (let p = 0; p < this.o.partitions; p++) {
      for (let f = 0; f < this.liveFeatures(s); f++) {
        const captures = COHORTS.map((cohort, ci) => this.capture(f, p, cohort, ci, f === current ? step : undefined));
        this.offsets[p] += f === current ? this.o.usersPerStep * this.o.requestsPerUser * 2 : 1;
        const w = new StepSnapshotWriter(featureName(f), p);
        w.add(step, { offset: String(this.offsets[p]) }, step, captures);
        out.push(w.finish());
      }
    }
    return out;
  }

  /** One cohort's capture; `at` set: users arrive (exposed just before it) and their requests are recorded. */
  private capture(f: number, p: number, cohort: string, ci: number, at: number | undefined): CohortCapture {
    const key = `${f}/${p}/${cohort}`;
    let d = this.data.get(key);
    const recent: number[] = [];
    if (at !== undefined) {
      d ??= { firstExposureAt: at - STEP_MS, counts: new Array<number>(COUNTS).fill(0), histogram: new LatencyHistogram() };
      const n = d.counts;
      for (let u = 0; u < this.o.usersPerStep; u++) {
        let slow = 0;
        for (let k = 0; k < this.o.requestsPerUser; k++) {
          // Log-normal around 120 ms (both cohorts alike), a few above the 200 ms threshold.
          const z = Math.sqrt(-2 * Math.log(1 - this.rand())) * Math.cos(2 * Math.PI * this.rand());
          const v = Math.max(1, Math.round(120 * Math.exp(0.35 * z + ci * 0.01)));
          d.histogram.record(v);
          recent.push(v);
          if (v > 200) slow++;
        }
        const r = this.o.requestsPerUser;
        n[0] += 1; // exposed
        n[5] += r; // latency count
        n[6] += slow;
        n[7] += 1; // users with requests
        n[8] += r * r;
        n[9] += slow * slow;
        n[10] += r * slow;
      }
      this.data.set(key, d);
    }
    if (!d) throw new Error(`feature ${f} reported before its stretch`);
    return { cohort, firstExposureAt: d.firstExposureAt, counts: d.counts.slice(), recent, histogram: d.histogram };
  }
}
