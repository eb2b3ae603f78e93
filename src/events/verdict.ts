// The public verdict message on pmf.verdicts.v1. Keys are part of the contract (docs/statistics.md
// describes `regressions` and `srm.suppressed`).

export type Outcome = 'pending' | 'pass' | 'fail' | 'inconclusive' | 'invalid';
export type MetricStatus = 'pending' | 'pass' | 'fail' | 'inconclusive';

export interface MetricVerdict {
  n: number;
  estimate: number | null;
  lower: number | null;
  upper: number | null;
  threshold: number;
  status: MetricStatus;
}

export interface SrmVerdict {
  status: 'ok' | 'mismatch' | 'not-applicable';
  pValue: number | null;
  counts: Record<string, number>;
  /**
   * On a mismatch: the guards that compare with the control and are therefore not judged. A
   * cohort's own thresholds are still judged (and can fail) under a mismatch.
   */
  suppressed?: string[];
}

/** Which e-detector fired for a failed guard, and since when the regression is estimated to run. */
export interface RegressionEstimate {
  /** Guard id, e.g. "latencyP95" or "activation-vs-control". */
  guard: string;
  /** Detector name, e.g. "p95-exceedance". */
  detector: string;
  /** Estimated onset (ISO 8601 event time): the start of the run of data that carries the evidence. */
  since: string;
  /** Event time (ISO 8601) of the evaluation at which the guard failed. */
  detectedAt: string;
}

/** Where a guarded cohort's rollout stands at this verdict (only for cohorts with a rollout). */
export interface RolloutView {
  /** 1-based stage; 0 once rolled back or aborted. */
  stage: number;
  stages: number;
  percent: number;
  status: 'ramping' | 'holding' | 'paused' | 'complete' | 'rolled-back' | 'aborted';
  /** Event time the stage began (ISO 8601). */
  stageStartedAt: string;
  /** Event time spent in the stage, and users first exposed to the cohort during it. */
  secondsInStage: number;
  usersInStage: number;
  /** What the stage still waits for before it may advance (absent when nothing but the guards). */
  waitingFor?: string;
  reason: string;
}

export interface Verdict {
  verdictId: string;
  feature: string;
  cohort: string;
  outcome: Outcome;
  metrics: {
    activation: MetricVerdict;
    retention: MetricVerdict;
    latencyP95: MetricVerdict;
  };
  srm: SrmVerdict;
  ruleVersion: string;
  /** Event time (ISO 8601) the verdict is based on: the merged watermark. */
  evaluatedAt: string;
  /** Source partition → next offset of pmf.events.v2 reflected in this verdict. */
  inputOffsets: Record<string, string>;
  reason: string;
  /** Present on a failing verdict: one entry per failed guard, in the order they failed. */
  regressions?: RegressionEstimate[];
  /** Present for a guarded cohort with a rollout: its stage, allocation and any hold. */
  rollout?: RolloutView;
}
