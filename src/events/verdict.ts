// The public verdict message on pmf.verdicts.v1 (docs/contract.md). Keys are part of the contract.

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
}
