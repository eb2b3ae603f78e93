// What a failing verdict says about the e-detector that fired: the detector's name, the data since
// the estimated onset, and that onset, e.g. "latency P95 exceedance 9.1 % of requests slower than
// 1500 ms (> 5 %) since about 2026-11-24T14:00Z (p95-exceedance detector, e-value 2.3e+3 ≥ 1/α_g 245)".

import type { Rule } from '../../rules/schema.js';
import type { DetectorOutcome } from './change-detectors.js';
import { P95_EXCEEDANCE_SHARE } from './exceedance-cs.js';
import { factor, milliseconds, percent, points } from './verdict-format.js';

/** Stable detector names, as in the verdict's `regressions[].detector`. */
export function detectorName(o: DetectorOutcome): string {
  if (o.spec.metric === 'latencyP95') return o.spec.comparison === 'threshold' ? 'p95-exceedance' : 'p95-vs-control';
  if (o.spec.comparison === 'threshold') return `${o.spec.metric}-rate`;
  return o.productLimit !== null ? `${o.spec.metric}-product-limit-vs-control` : `${o.spec.metric}-vs-control`;
}

function hoursOf(ms: number): string {
  return `${Math.round((ms / 3_600_000) * 10) / 10} h`;
}

/** Event time to the minute, e.g. 2026-11-24T14:00Z. */
export function minuteOf(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16)}Z`;
}

function ratio(hits: number, n: number): number | null {
  return n > 0 ? hits / n : null;
}

function evidence(o: DetectorOutcome): string {
  const e = Math.exp(Math.min(o.logValue, 700));
  return `${detectorName(o)} detector, e-value ${e.toPrecision(2)} ≥ 1/α_g ${Math.round(Math.exp(o.logThreshold))}`;
}

export function alarmLine(o: DetectorOutcome, rule: Rule): string {
  const [n, hits, nC, hitsC] = o.sums;
  const since = `since about ${minuteOf(o.since)}`;
  const { metric, comparison } = o.spec;
  if (metric === 'latencyP95') {
    if (comparison === 'threshold') {
      return `latency P95 exceedance ${percent(ratio(hits, n))} of requests slower than ${milliseconds(rule.latencyP95Threshold)} (> ${percent(P95_EXCEEDANCE_SHARE)}) ${since} (${evidence(o)})`;
    }
    const f = 1 + (rule.guardrails.maxP95Increase ?? 0);
    const cut = o.cut ?? 0;
    return `latency P95 vs control: ${percent(ratio(hits, n))} of requests slower than ${factor(f)} × control P95 (${milliseconds(f * cut)}) vs ${percent(ratio(hitsC, nC))} of control requests slower than ${milliseconds(cut)} ${since} (${evidence(o)})`;
  }
  if (comparison === 'threshold') {
    const theta = metric === 'activation' ? rule.activationThreshold : rule.retentionThreshold;
    return `${metric} ${percent(ratio(hits, n))} of ${n} users matured (< threshold ${percent(theta)}) ${since} (${evidence(o)})`;
  }
  const drop = (metric === 'activation' ? rule.guardrails.maxActivationDrop : rule.guardrails.maxRetentionDrop) ?? 0;
  if (o.productLimit !== null) {
    const pl = o.productLimit;
    const window = hoursOf(rule.activation.windowSeconds * 1000);
    return `${metric} within ${window} ${percent(pl.treatment.rate)} vs control ${percent(pl.control.rate)} (product-limit estimate with young users past ${hoursOf(pl.afterMs)}; allowed drop ${points(drop)}) ${since} (${evidence(o)})`;
  }
  return `${metric} ${percent(ratio(hits, n))} vs control ${percent(ratio(hitsC, nC))} (allowed drop ${points(drop)}) ${since} (${evidence(o)})`;
}
