// The always-valid evaluator (docs/statistics.md). Every guard of a cohort runs a mixture
// Shiryaev–Roberts e-detector at its share α_g of the rule's α, so evaluating at every step never
// inflates false rollbacks, and a regression that starts late is judged on the data since it
// started, not diluted by the healthy history before it. Confidence sequences (running
// intersections) still decide 'pass' and give the bounds the verdict shows. Deterministic: the same
// inputs and memory give the same result (no clock, no randomness).
//
// Outcome, in order of precedence:
//   fail         a guard's detector fired (sticky: stays fail while the rule's statistics are unchanged)
//   invalid      sample ratio mismatch: the comparisons with the control are not judged, the
//                cohort's own thresholds still are (a threshold alarm is a fail above); rule.onSrm
//                says what to do
//   pending      minCohortSize / evaluationWindowSeconds gates not met (inconclusive once past
//                maxDurationSeconds: a gate that has not opened by then needs a person)
//   pass         every configured metric passes all its guards (CS in the good region)
//   inconclusive past maxDurationSeconds undecided (never a new fail: held for a person)
//   pending      undecided, or too little matured data
// A metric the rule does not configure (activation without an action) is reported as 'pending'
// with n 0 and does not block pass: there is nothing to measure, and waiting for it would leave
// every such rule pending forever.

import type { MetricStatus, MetricVerdict, Outcome, RegressionEstimate, SrmVerdict } from '../events/verdict.js';
import type { Rule } from '../rules/schema.js';
import type { CohortEvaluator, EvaluationInput, EvaluationResult, EvaluatorMemory } from './cohort-evaluator.js';
import { gateReason } from './gates.js';
import { alarmLine, detectorName } from './statistics/alarm-lines.js';
import { alphaBudget, guardId, guardsOf, metricConfigured, type GuardSpec, type MetricName } from './statistics/alpha-budget.js';
import { copyChangeMemory, isChangeMemory, newChangeMemory, stepChangeDetectors, type ChangeMemory } from './statistics/change-detectors.js';
import { isPassEvidenceMemory, passEvidence, type PassEvidenceMemory } from './pass-evidence.js';
import type { GuardOutcome } from './statistics/cohort-guards.js';
import type { IntersectionState } from './statistics/running-intersection.js';
import { checkSrm, SRM_ALPHA } from './statistics/srm.js';
import { percent } from './statistics/verdict-format.js';

const METRICS: readonly MetricName[] = ['activation', 'retention', 'latencyP95'];

/** The evaluator's state per (feature, cohort); JSON-serialisable. */
export interface SequentialMemory {
  /** The rule's statistical settings the state belongs to; a change starts a new family. */
  fingerprint: string;
  /** Largest guarded-cohort count used for the α split (only grows). */
  guardedCohorts: number;
  /** Running minimum of the SRM always-valid p-value. */
  srmPValue: number | null;
  intersections: IntersectionState;
  /** The guards' e-detectors and the last cumulative counts they step from. */
  change: ChangeMemory;
  /** The last confidence-sequence result (see pass-evidence.ts). */
  pass: PassEvidenceMemory | null;
  /** Guard id → what the verdict says about its failure, fixed when it failed. */
  failed: Record<string, FailedGuard>;
}

export interface FailedGuard {
  line: string;
  detector: string;
  /** Estimated onset and the evaluation that failed it (event time, ms). */
  since: number;
  at: number;
}

// Parsed rules are never mutated, so the fingerprint can be cached per rule object.
const fingerprints = new WeakMap<Rule, string>();

/** Everything that changes what a CS means; gates (minCohortSize, durations) are not in it. */
function fingerprintOf(rule: Rule): string {
  let fingerprint = fingerprints.get(rule);
  if (fingerprint === undefined) {
    fingerprint = computeFingerprint(rule);
    fingerprints.set(rule, fingerprint);
  }
  return fingerprint;
}

function computeFingerprint(rule: Rule): string {
  return JSON.stringify([
    'e-detector-3',
    rule.activationThreshold,
    rule.retentionThreshold,
    rule.latencyP95Threshold,
    rule.activation,
    rule.retention,
    rule.latency,
    rule.cohorts,
    rule.guardrails,
    rule.alpha,
  ]);
}

function isSequentialMemory(m: EvaluatorMemory): m is EvaluatorMemory & SequentialMemory {
  return (
    typeof m.fingerprint === 'string' &&
    typeof m.guardedCohorts === 'number' &&
    (m.srmPValue === null || typeof m.srmPValue === 'number') &&
    typeof m.intersections === 'object' &&
    m.intersections !== null &&
    typeof m.failed === 'object' &&
    m.failed !== null &&
    isChangeMemory(m.change) &&
    (m.pass === null || isPassEvidenceMemory(m.pass))
  );
}

/** Reads the memory of a previous evaluation, or a fresh one when the rule's statistics changed. */
export function restoreSequentialMemory(memory: EvaluatorMemory, rule: Rule): SequentialMemory {
  const fingerprint = fingerprintOf(rule);
  if (isSequentialMemory(memory) && memory.fingerprint === fingerprint) {
    // Copies: the caller's memory object is never mutated.
    return {
      fingerprint,
      guardedCohorts: memory.guardedCohorts,
      srmPValue: memory.srmPValue,
      intersections: Object.fromEntries(Object.entries(memory.intersections).map(([k, v]) => [k, { ...v }])),
      change: copyChangeMemory(memory.change),
      // Replaced, never mutated: shared safely.
      pass: memory.pass,
      failed: { ...memory.failed },
    };
  }
  return { fingerprint, guardedCohorts: 0, srmPValue: null, intersections: {}, change: newChangeMemory(), pass: null, failed: {} };
}

function seenGuardedCohorts(input: EvaluationInput): number {
  const { rule } = input;
  if (rule.cohorts.guarded) return rule.cohorts.guarded.length;
  return Object.keys(input.exposures).filter((c) => c !== rule.cohorts.control).length;
}

/** Expected shares: the rule's, else equal among the declared cohorts, else among those seen. */
function expectedShares(input: EvaluationInput): Record<string, number> {
  const { rule } = input;
  // A rollout moves shares as its allocation rises; the engine passes the shares then in force.
  if (input.expectedShares) return input.expectedShares;
  if (rule.cohorts.expectedShares) return rule.cohorts.expectedShares;
  const declared = [...(rule.cohorts.control ? [rule.cohorts.control] : []), ...(rule.cohorts.guarded ?? [])];
  const cohorts = declared.length >= 2 ? declared : Object.keys(input.exposures);
  return Object.fromEntries(cohorts.map((c) => [c, 1]));
}

function evaluateSrm(input: EvaluationInput, memory: SequentialMemory, alphaSrm: number): SrmVerdict {
  const shares = expectedShares(input);
  const cohorts = Object.keys(shares).sort();
  const counts = Object.fromEntries(cohorts.map((c) => [c, input.exposures[c] ?? 0]));
  if (cohorts.length < 2) return { status: 'not-applicable', pValue: null, counts };
  const check = checkSrm(
    cohorts.map((c) => counts[c]),
    cohorts.map((c) => shares[c]),
    memory.srmPValue,
    { alpha: alphaSrm },
  );
  memory.srmPValue = check.pValue;
  return { status: check.mismatch ? 'mismatch' : 'ok', pValue: check.pValue, counts };
}

function srmLine(srm: SrmVerdict, shares: Record<string, number>, alphaSrm: number): string {
  const total = Object.values(shares).reduce((s, x) => s + x, 0);
  const observed = Object.entries(srm.counts).map(([c, n]) => `${c} ${n}`).join(', ');
  const expected = Object.keys(srm.counts).map((c) => percent((shares[c] ?? 0) / total)).join(' / ');
  return `sample ratio mismatch (always-valid p ${srm.pValue?.toPrecision(2)} ≤ ${alphaSrm}; exposures ${observed}; expected ${expected})`;
}

function durationText(rule: Rule): string {
  const days = Math.round((rule.maxDurationSeconds / 86_400) * 10) / 10;
  return `${days} d (maxDurationSeconds ${rule.maxDurationSeconds})`;
}

const specCache = new WeakMap<Rule, [GuardSpec[], GuardSpec[]]>();

/** The guards of a guarded cohort, or of the control (not compared with itself); cached per rule. */
function specsOf(rule: Rule, isControl: boolean): GuardSpec[] {
  let cached = specCache.get(rule);
  if (!cached) {
    const all = guardsOf(rule);
    specCache.set(rule, (cached = [all, all.filter((g) => g.comparison !== 'vs-control')]));
  }
  return isControl ? cached[1] : cached[0];
}

function metricStatus(guards: GuardOutcome[], failed: Record<string, FailedGuard>, undecided: MetricStatus): MetricStatus {
  if (guards.some((g) => failed[g.id] !== undefined)) return 'fail';
  if (guards.length > 0 && guards.every((g) => g.state === 'pass')) return 'pass';
  return undecided;
}

export class SequentialEvaluator implements CohortEvaluator {
  readonly name = 'sequential';

  evaluate(input: EvaluationInput): EvaluationResult {
    const { rule, cohort, at } = input;
    const memory = restoreSequentialMemory(input.memory, rule);
    memory.guardedCohorts = Math.max(memory.guardedCohorts, seenGuardedCohorts(input));
    const budget = alphaBudget(rule, memory.guardedCohorts, SRM_ALPHA);
    const srm = evaluateSrm(input, memory, budget.alphaSrm);

    const specs = specsOf(rule, cohort.cohort === rule.cohorts.control);
    const detectors = stepChangeDetectors({
      rule, cohort, control: input.control, at, specs, alphaByGuard: budget.byGuard, memory: memory.change,
    });
    const cs = passEvidence({
      rule, cohort, control: input.control, alphaByGuard: budget.byGuard, specs, intersections: memory.intersections, previous: memory.pass,
    });
    memory.pass = cs.memory;
    const guards = cs.guards;

    const gate = gateReason(input);
    const pastMax = at >= cohort.firstExposureAt + rule.maxDurationSeconds * 1000;
    const srmMismatch = srm.status === 'mismatch';
    // A mismatch breaks the comparison between cohorts, not a cohort's own threshold.
    const suppressed = srmMismatch ? specs.filter((g) => g.comparison === 'vs-control').map(guardId) : [];
    if (srmMismatch) srm.suppressed = suppressed;
    if (!gate && !pastMax) {
      for (const d of detectors) {
        if (!d.alarm || memory.failed[d.id] !== undefined || suppressed.includes(d.id)) continue;
        memory.failed[d.id] = { line: alarmLine(d, rule), detector: detectorName(d), since: d.since, at };
      }
    }

    const byMetric = (m: MetricName) => guards.filter((g) => g.metric === m);
    const configured = METRICS.filter((m) => metricConfigured(rule, m));
    const undecided: MetricStatus = pastMax && !gate ? 'inconclusive' : 'pending';
    const statuses = Object.fromEntries(
      METRICS.map((m) => [m, configured.includes(m) ? metricStatus(byMetric(m), memory.failed, undecided) : 'pending']),
    ) as Record<MetricName, MetricStatus>;

    const failed = Object.entries(memory.failed).sort(([, a], [, b]) => a.at - b.at);
    const regressions: RegressionEstimate[] = failed.map(([guard, f]) => ({
      guard, detector: f.detector, since: new Date(f.since).toISOString(), detectedAt: new Date(f.at).toISOString(),
    }));
    const srmText = () => srmLine(srm, expectedShares(input), budget.alphaSrm);
    let outcome: Outcome;
    let reason: string;
    if (failed.length > 0) {
      outcome = 'fail';
      reason = `fail: ${failed.map(([, f]) => f.line).join('; ')}`;
      if (srmMismatch) reason += `; ${srmText()}: comparisons with the control not judged, the cohort's own thresholds still are`;
    } else if (srmMismatch) {
      outcome = 'invalid';
      for (const m of METRICS) if (statuses[m] !== 'fail') statuses[m] = 'pending';
      reason = `invalid: ${srmText()}; comparisons with the control not judged (${suppressed.join(', ') || 'none configured'}), the cohort's own thresholds still are; onSrm: ${rule.onSrm}`;
    } else if (gate) {
      // A gate still closed at maxDuration will not open by itself: a person has to look.
      outcome = pastMax ? 'inconclusive' : 'pending';
      for (const m of METRICS) statuses[m] = pastMax && configured.includes(m) ? 'inconclusive' : 'pending';
      reason = pastMax ? `inconclusive: after ${durationText(rule)} still ${gate}, held for a person` : `pending: ${gate}`;
    } else if (configured.every((m) => statuses[m] === 'pass')) {
      outcome = 'pass';
      reason = `pass: ${guards.map((g) => g.evidence()).join('; ')}`;
    } else {
      const open = guards.filter((g) => g.state !== 'pass').map((g) => g.evidence());
      if (pastMax) {
        outcome = 'inconclusive';
        reason = `inconclusive: undecided after ${durationText(rule)}, held for a person: ${open.join('; ')}`;
      } else {
        outcome = 'pending';
        reason = `pending: undecided: ${open.join('; ')}`;
      }
    }
    if (!configured.includes('activation')) reason += '; activation not measured (the rule has no activation action)';

    const metric = (m: MetricName, threshold: number): MetricVerdict => ({ ...cs.evidence[m], threshold, status: statuses[m] });
    return {
      outcome,
      metrics: {
        activation: metric('activation', rule.activationThreshold),
        retention: metric('retention', rule.retentionThreshold),
        latencyP95: metric('latencyP95', rule.latencyP95Threshold),
      },
      srm,
      reason,
      ...(regressions.length > 0 ? { regressions } : {}),
      memory: memory as unknown as EvaluatorMemory,
    };
  }
}

/** Per-guard view of a memory, for tests and the simulation: which guards have failed. */
export function failedGuards(memory: EvaluatorMemory): string[] {
  return isSequentialMemory(memory) ? Object.keys(memory.failed) : [];
}

/** Per-guard first alarm times of the e-detectors (even those a gate or an SRM mismatch kept from counting). */
export function detectorAlarms(memory: EvaluatorMemory): Record<string, number> {
  return isSequentialMemory(memory) ? { ...memory.change.alarms } : {};
}
