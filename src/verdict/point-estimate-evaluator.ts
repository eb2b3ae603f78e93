// The simplest evaluator: compares point estimates with thresholds once the gates are met. It is
// NOT valid under continuous monitoring (see docs/statistics.md: ~33 % false rollbacks in
// A/A); it exists as the baseline the sequential evaluator is measured against and for debugging.

import type { MetricVerdict, Outcome } from '../events/verdict.js';
import type { CohortEvaluator, EvaluationInput, EvaluationResult } from './cohort-evaluator.js';
import { gateReason } from './gates.js';

function rate(successes: number, matured: number, threshold: number, configured: boolean): MetricVerdict {
  if (!configured || matured === 0) return { n: matured, estimate: null, lower: null, upper: null, threshold, status: 'pending' };
  const estimate = successes / matured;
  return { n: matured, estimate, lower: estimate, upper: estimate, threshold, status: estimate < threshold ? 'fail' : 'pass' };
}

export class PointEstimateEvaluator implements CohortEvaluator {
  readonly name = 'point-estimate';

  evaluate(input: EvaluationInput): EvaluationResult {
    const { rule, cohort } = input;
    const p95 = cohort.latency.p95;
    const metrics = {
      activation: rate(cohort.activation.successes, cohort.activation.matured, rule.activationThreshold, rule.activation.action !== undefined),
      retention: rate(cohort.retention.successes, cohort.retention.matured, rule.retentionThreshold, true),
      latencyP95: {
        n: cohort.latency.count,
        estimate: p95,
        lower: p95,
        upper: p95,
        threshold: rule.latencyP95Threshold,
        status: p95 === null ? 'pending' : p95 > rule.latencyP95Threshold ? 'fail' : 'pass',
      } satisfies MetricVerdict,
    };
    const srm = { status: 'not-applicable' as const, pValue: null, counts: input.exposures };
    const gate = gateReason(input);
    if (gate) {
      for (const m of Object.values(metrics)) if (m.status !== 'pending') m.status = 'pending';
      return { outcome: 'pending', metrics, srm, reason: `pending: ${gate}`, memory: input.memory };
    }
    const failed = Object.entries(metrics).filter(([, m]) => m.status === 'fail');
    let outcome: Outcome = 'pending';
    let reason = 'pending: waiting for matured data';
    if (failed.length > 0) {
      outcome = 'fail';
      reason = `fail: ${failed.map(([k, m]) => `${k} ${m.estimate} vs threshold ${m.threshold}`).join('; ')} (point estimate)`;
    } else if (Object.values(metrics).every((m) => m.status === 'pass')) {
      outcome = 'pass';
      reason = 'pass: every metric meets its threshold (point estimate)';
    }
    return { outcome, metrics, srm, reason, memory: input.memory };
  }
}
