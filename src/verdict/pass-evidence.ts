// The confidence sequences that decide 'pass' and give the bounds a verdict shows. Failing is the
// e-detectors' job; these only need to be fresh enough to pass a healthy cohort and to explain
// it, so they are recomputed when a sample they rest on grew by RECOMPUTE_GROWTH since the last
// computation, and reused in between. Reuse is sound: a confidence sequence covers the parameter at
// every time, so an earlier interval (and the running intersection) is still valid; it is only a
// little wider than a fresh one. This keeps the root-finding of the Robbins and order-statistic
// bounds off most evaluations (the CPU of an evaluation is dominated by it otherwise): with a
// steady stream, about ln(N_end/N_start)/ln(1 + RECOMPUTE_GROWTH) computations in a whole run.

import type { Rule } from '../rules/schema.js';
import type { MergedCohortStats } from './cohort-evaluator.js';
import { guardId, type Comparison, type GuardSpec, type MetricName } from './statistics/alpha-budget.js';
import { evaluateCohortGuards, type GuardOutcome, type GuardState, type MetricEvidence } from './statistics/cohort-guards.js';
import type { IntersectionState } from './statistics/running-intersection.js';

export const RECOMPUTE_GROWTH = 0.2;

export interface PassEvidenceMemory {
  /** The sample size (requests and matured users of both arms) the stored result was computed on. */
  basis: number;
  states: Record<string, GuardState>;
  lines: Record<string, string>;
  evidence: Record<MetricName, MetricEvidence>;
}

export function isPassEvidenceMemory(x: unknown): x is PassEvidenceMemory {
  if (typeof x !== 'object' || x === null) return false;
  const m = x as Record<string, unknown>;
  return typeof m.basis === 'number' && typeof m.states === 'object' && typeof m.lines === 'object' && typeof m.evidence === 'object';
}

/** One growing total, so the recomputations of all guards fall on the same evaluations. */
function basisOf(cohort: MergedCohortStats, control: MergedCohortStats | undefined): number {
  const sample = (s: MergedCohortStats) => s.latency.count + s.activation.matured + s.retention.matured + s.exposed;
  return sample(cohort) + (control ? sample(control) : 0);
}

function stale(previous: PassEvidenceMemory, basis: number, specs: readonly GuardSpec[]): boolean {
  if (specs.some((s) => previous.states[guardId(s)] === undefined)) return true;
  return basis > previous.basis * (1 + RECOMPUTE_GROWTH);
}

export interface PassEvidenceInput {
  rule: Rule;
  cohort: MergedCohortStats;
  control?: MergedCohortStats;
  alphaByGuard: Record<string, number>;
  specs: readonly GuardSpec[];
  intersections: IntersectionState;
  previous: PassEvidenceMemory | null;
}

export interface PassEvidence {
  guards: GuardOutcome[];
  evidence: Record<MetricName, MetricEvidence>;
  memory: PassEvidenceMemory;
}

export function passEvidence(input: PassEvidenceInput): PassEvidence {
  const basis = basisOf(input.cohort, input.control);
  let memory = input.previous;
  if (memory === null || stale(memory, basis, input.specs)) {
    const r = evaluateCohortGuards({
      rule: input.rule, cohort: input.cohort, control: input.control, alphaByGuard: input.alphaByGuard,
      guards: input.specs, intersections: input.intersections,
    });
    memory = {
      basis,
      // A confidence sequence only ever passes a guard here: failing is the e-detectors' job.
      states: Object.fromEntries(r.guards.map((g) => [g.id, g.state === 'fail' ? 'undecided' : g.state])),
      lines: Object.fromEntries(r.guards.map((g) => [g.id, g.evidence()])),
      evidence: r.evidence,
    };
  }
  const stored = memory;
  const guards = input.specs.map((s): GuardOutcome => {
    const id = guardId(s);
    return { id, metric: s.metric, comparison: s.comparison as Comparison, state: stored.states[id], evidence: () => stored.lines[id] };
  });
  return { guards, evidence: stored.evidence, memory: stored };
}
