// The seed's gates, shared by every evaluator: no verdict before minCohortSize exposed users and
// before evaluationWindowSeconds of event time since the cohort's first exposure.

import type { EvaluationInput } from './cohort-evaluator.js';

export function gateReason(input: EvaluationInput): string | null {
  const { rule, cohort, at } = input;
  if (cohort.exposed < rule.minCohortSize) {
    return `${cohort.exposed} of ${rule.minCohortSize} exposed users (minCohortSize)`;
  }
  const opensAt = cohort.firstExposureAt + rule.evaluationWindowSeconds * 1000;
  if (at < opensAt) {
    const left = Math.ceil((opensAt - at) / 1000);
    return `evaluation window open for ${left} s more of event time (evaluationWindowSeconds ${rule.evaluationWindowSeconds})`;
  }
  return null;
}
