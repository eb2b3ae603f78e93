// The evaluator pmf-guard had before the e-detectors, kept in the simulation as the in-run
// baseline for CPU per evaluation and for "today's" detection delays: every guard is a confidence
// sequence accumulated from the first exposure at an equal (Bonferroni) share of α, and a guard
// fails when its running intersection lies in the bad region. Not used by the product.

import type { MetricStatus, MetricVerdict, Outcome, SrmVerdict } from '../src/events/verdict.js';
import type { Rule } from '../src/rules/schema.js';
import type { CohortEvaluator, EvaluationInput, EvaluationResult, EvaluatorMemory } from '../src/verdict/cohort-evaluator.js';
import { gateReason } from '../src/verdict/gates.js';
import { guardId, guardsOf, metricConfigured, type MetricName } from '../src/verdict/statistics/alpha-budget.js';
import { evaluateCohortGuards, type GuardOutcome } from '../src/verdict/statistics/cohort-guards.js';
import type { IntersectionState } from '../src/verdict/statistics/running-intersection.js';
import { checkSrm, SRM_ALPHA } from '../src/verdict/statistics/srm.js';
import { percent } from '../src/verdict/statistics/verdict-format.js';

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
  /** Guard id → evidence line at the time it failed. */
  failed: Record<string, string>;
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
    m.failed !== null
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
      failed: { ...memory.failed },
    };
  }
  return { fingerprint, guardedCohorts: 0, srmPValue: null, intersections: {}, failed: {} };
}

function seenGuardedCohorts(input: EvaluationInput): number {
  const { rule } = input;
  if (rule.cohorts.guarded) return rule.cohorts.guarded.length;
  return Object.keys(input.exposures).filter((c) => c !== rule.cohorts.control).length;
}

/** Expected shares: the rule's, else equal among the declared cohorts, else among those seen. */
function expectedShares(input: EvaluationInput): Record<string, number> {
  const { rule } = input;
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

function metricStatus(guards: GuardOutcome[], failed: Record<string, string>, undecided: MetricStatus): MetricStatus {
  if (guards.some((g) => failed[g.id] !== undefined)) return 'fail';
  if (guards.length > 0 && guards.every((g) => g.state === 'pass')) return 'pass';
  return undecided;
}

/** Bonferroni: α − α_srm split equally over guards × guarded cohorts. */
function equalSplit(rule: Rule, guardedCohorts: number): { alphaSrm: number; byGuard: Record<string, number> } {
  const specs = guardsOf(rule);
  const spendable = Math.max(rule.alpha - SRM_ALPHA, rule.alpha / 2);
  const each = spendable / (Math.max(specs.length, 1) * Math.max(1, guardedCohorts));
  return { alphaSrm: Math.min(SRM_ALPHA, rule.alpha / 2), byGuard: Object.fromEntries(specs.map((g) => [guardId(g), each])) };
}

export class CumulativeEvaluator implements CohortEvaluator {
  readonly name = 'cumulative';

  evaluate(input: EvaluationInput): EvaluationResult {
    const { rule, cohort, at } = input;
    const memory = restoreSequentialMemory(input.memory, rule);
    memory.guardedCohorts = Math.max(memory.guardedCohorts, seenGuardedCohorts(input));
    const budget = equalSplit(rule, memory.guardedCohorts);
    const srm = evaluateSrm(input, memory, budget.alphaSrm);

    // The control is not compared with itself.
    const isControl = cohort.cohort === rule.cohorts.control;
    const specs = guardsOf(rule).filter((g) => !(isControl && g.comparison === 'vs-control'));
    const { guards, evidence } = evaluateCohortGuards({
      rule,
      cohort,
      control: input.control,
      alphaByGuard: budget.byGuard,
      guards: specs,
      intersections: memory.intersections,
    });

    const gate = gateReason(input);
    const pastMax = at >= cohort.firstExposureAt + rule.maxDurationSeconds * 1000;
    const srmMismatch = srm.status === 'mismatch';
    if (!gate && !srmMismatch && !pastMax) {
      for (const g of guards) if (g.state === 'fail' && memory.failed[g.id] === undefined) memory.failed[g.id] = g.evidence();
    }

    const byMetric = (m: MetricName) => guards.filter((g) => g.metric === m);
    const configured = METRICS.filter((m) => metricConfigured(rule, m));
    const undecided: MetricStatus = pastMax && !gate ? 'inconclusive' : 'pending';
    const statuses = Object.fromEntries(
      METRICS.map((m) => [m, configured.includes(m) ? metricStatus(byMetric(m), memory.failed, undecided) : 'pending']),
    ) as Record<MetricName, MetricStatus>;

    const failedLines = Object.values(memory.failed);
    let outcome: Outcome;
    let reason: string;
    if (failedLines.length > 0) {
      outcome = 'fail';
      reason = `fail: ${failedLines.join('; ')}`;
      if (srmMismatch) reason += `; later ${srmLine(srm, expectedShares(input), budget.alphaSrm)}`;
    } else if (srmMismatch) {
      outcome = 'invalid';
      for (const m of METRICS) statuses[m] = 'pending';
      reason = `invalid: ${srmLine(srm, expectedShares(input), budget.alphaSrm)}; metric verdicts suppressed; onSrm: ${rule.onSrm}`;
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

    const metric = (m: MetricName, threshold: number): MetricVerdict => ({ ...evidence[m], threshold, status: statuses[m] });
    return {
      outcome,
      metrics: {
        activation: metric('activation', rule.activationThreshold),
        retention: metric('retention', rule.retentionThreshold),
        latencyP95: metric('latencyP95', rule.latencyP95Threshold),
      },
      srm,
      reason,
      memory: memory as unknown as EvaluatorMemory,
    };
  }
}
