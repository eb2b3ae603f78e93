// Runs the e-detector of every guard of one cohort over the data that arrived since the previous
// evaluation (docs/statistics.md). The evaluator only sees cumulative counts, so the memory keeps
// the last cumulative counts of the cohort and its control (and the control P95 cut with the
// request counts above it) and turns each evaluation into one step of new data. When the cohort
// stats carry early counts at the rule's landmark (activation.earlySeconds, by default half the
// window) with the matured early successes, the activation guardrail also runs the product-limit
// test (product-limit.ts) on young users, at a fixed share of the guard's α_g. State per cohort:
// the counts (~30 numbers) plus per detector K bets × 8 numbers — fixed, whatever the run length.

import type { Rule } from '../../rules/schema.js';
import type { MergedCohortStats } from '../cohort-evaluator.js';
import { guardId, type GuardSpec } from './alpha-budget.js';
import { copyDetector, EXPOSURE_WEIGHT, isDetectorState, newDetector, runSums, updateDetector, type DetectorState } from './e-detector.js';
import { P95_EXCEEDANCE_SHARE } from './exceedance-cs.js';
import {
  BETS, latencyThresholdBets, latencyVsControlBets, rateThresholdBets, rateVsControlBets, type LatencyStep,
} from './guard-bets.js';
import { isProductLimitState, newProductLimitState, stepProductLimit, type ProductLimitCounts, type ProductLimitEstimate, type ProductLimitState } from './product-limit.js';
import { latencyDesignEffect } from './relative-p95.js';

/**
 * Share of the activation-vs-control guard's α_g given to its product-limit test when the cohort
 * stats carry the counts it needs (the matured detector keeps the rest; a union bound).
 */
export const PRODUCT_LIMIT_SHARE = 0.7;

/** Counts kept per bet's run (see DetectorState.sums): up to two (n, hits) pairs. */
const SUMS = 4;
/** The control cut κ is re-based only when the control's P95 moved by more than this share. */
const CUT_TOLERANCE = 0.02;

/** activation (matured, successes), retention (matured, successes), latency sums (6). */
type Cumulative = number[];

export interface ChangeMemory {
  /** Event time of the previous evaluation; null before the first. */
  at: number | null;
  /** Start weight already given to later starts (≤ 1 − w₀). */
  spent: number;
  cohort: Cumulative | null;
  control: Cumulative | null;
  /** The control P95 cut of the vs-control P95 bet and the request counts above it at `at`. */
  cut: { kappa: number; treatmentAbove: number; controlAbove: number } | null;
  detectors: Record<string, DetectorState>;
  /**
   * The landmark (ms) of the product-limit test, false when the first snapshot had no counts for
   * it (then it never starts later: the α split is fixed before any outcome), null before the
   * first step.
   */
  early: { afterMs: number } | false | null;
  /** The product-limit test's counts and sums (product-limit.ts), while it runs. */
  productLimit: ProductLimitState | null;
  /** First event time each guard's detector crossed 1/α_g (whether or not a gate let it count). */
  alarms: Record<string, number>;
}

export function newChangeMemory(): ChangeMemory {
  return { at: null, spent: 0, cohort: null, control: null, cut: null, detectors: {}, early: null, productLimit: null, alarms: {} };
}

const COUNTS = 10;

/** Shape check of a memory this module wrote (restored from JSON); cheap enough for every evaluation. */
export function isChangeMemory(x: unknown): x is ChangeMemory {
  if (typeof x !== 'object' || x === null) return false;
  const m = x as Record<string, unknown>;
  const cut = m.cut as Record<string, unknown> | null;
  const counts = (v: unknown) => v === null || (Array.isArray(v) && v.length === COUNTS);
  if (
    !(m.at === null || typeof m.at === 'number') ||
    typeof m.spent !== 'number' ||
    !counts(m.cohort) ||
    !counts(m.control) ||
    !(cut === null || (typeof cut === 'object' && typeof cut.kappa === 'number' && typeof cut.treatmentAbove === 'number' && typeof cut.controlAbove === 'number')) ||
    typeof m.detectors !== 'object' || m.detectors === null ||
    !(m.early === null || m.early === false || (typeof m.early === 'object' && typeof (m.early as { afterMs?: unknown }).afterMs === 'number')) ||
    !(m.productLimit === null || isProductLimitState(m.productLimit)) ||
    typeof m.alarms !== 'object' || m.alarms === null
  ) return false;
  for (const d of Object.values(m.detectors)) if (!isDetectorState(d, BETS, SUMS)) return false;
  return true;
}

export function copyChangeMemory(m: ChangeMemory): ChangeMemory {
  return {
    at: m.at,
    spent: m.spent,
    cohort: m.cohort && [...m.cohort],
    control: m.control && [...m.control],
    cut: m.cut && { ...m.cut },
    detectors: copyEach(m.detectors),
    early: m.early && { ...m.early },
    productLimit: m.productLimit && { used: [...m.productLimit.used], sums: [...m.productLimit.sums] },
    alarms: { ...m.alarms },
  };
}

function copyEach(detectors: Record<string, DetectorState>): Record<string, DetectorState> {
  const out: Record<string, DetectorState> = {};
  for (const id in detectors) out[id] = copyDetector(detectors[id]);
  return out;
}

function cumulativeOf(s: MergedCohortStats): Cumulative {
  const l = s.latency;
  return [s.activation.matured, s.activation.successes, s.retention.matured, s.retention.successes,
    l.count, l.slow, l.users, l.sumN2, l.sumSlow2, l.sumNSlow];
}

/** An arm's counts for the product-limit test, when its stats carry them at the landmark. */
function productLimitCounts(s: MergedCohortStats, afterMs: number): ProductLimitCounts | null {
  const e = s.activation.early;
  if (!e || e.afterMs !== afterMs || e.maturedSuccesses === undefined) return null;
  return { reached: e.reached, early: e.successes, matured: s.activation.matured, successes: s.activation.successes, maturedEarly: e.maturedSuccesses };
}

/** now − before, or null when a count went backwards (a source was reset): that step is skipped. */
function delta(now: Cumulative, before: Cumulative | null): Cumulative | null {
  const out = before ? now.map((x, i) => x - before[i]) : [...now];
  return out.some((x) => x < 0) ? null : out;
}

const latencyStep = (d: Cumulative): LatencyStep =>
  ({ count: d[4], slow: d[5], users: d[6], sumN2: d[7], sumSlow2: d[8], sumNSlow: d[9] });

export interface DetectorOutcome {
  id: string;
  spec: GuardSpec;
  /** ln D_t and the alarm level ln(1/α_g). */
  logValue: number;
  logThreshold: number;
  alarm: boolean;
  /** Estimated onset: the event time the leading bet's run started at. */
  since: number;
  /** Counts over that run (see SUMS). */
  sums: number[];
  /** The control cut κ in force (P95 vs control only). */
  cut: number | null;
  /** When the product-limit test speaks for the guard: its landmark (ms) and the two arms' estimates. */
  productLimit: { afterMs: number; treatment: ProductLimitEstimate; control: ProductLimitEstimate } | null;
}

export interface ChangeInput {
  rule: Rule;
  cohort: MergedCohortStats;
  control?: MergedCohortStats;
  at: number;
  specs: readonly GuardSpec[];
  alphaByGuard: Record<string, number>;
  /** Mutated: the state after this step. */
  memory: ChangeMemory;
}

export function stepChangeDetectors(input: ChangeInput): DetectorOutcome[] {
  const { rule, cohort, control, at, memory } = input;
  const stepStart = memory.at ?? Math.min(cohort.firstExposureAt, at);
  const horizon = rule.maxDurationSeconds * 1000;
  // A start at the previous evaluation covers this step's data; its weight is its share of the
  // horizon's event time, so the weights of all starts sum to at most 1 − w₀.
  const later = 1 - EXPOSURE_WEIGHT;
  const room = later - memory.spent;
  const startWeight = memory.at === null ? 0 : Math.min(room, (later * Math.max(at - memory.at, 0)) / horizon);
  memory.spent += Math.max(startWeight, 0);

  // The data carry the product-limit counts at the rule's landmark (decided once, on the first snapshot).
  const landmark = rule.activation.earlySeconds === undefined ? null : rule.activation.earlySeconds * 1000;
  memory.early ??= landmark !== null && productLimitCounts(cohort, landmark) !== null ? { afterMs: landmark } : false;
  const early = memory.early;
  const nowT = cumulativeOf(cohort);
  const nowC = control ? cumulativeOf(control) : null;
  const dT = delta(nowT, memory.cohort);
  // Both arms' steps must cover the same event time: a control first seen now (after the cohort)
  // only sets the base for the next step.
  const dC = nowC && (memory.control !== null || memory.cohort === null) ? delta(nowC, memory.control) : null;
  const logE = new Float64Array(BETS);
  const counts = new Float64Array(SUMS);
  const out: DetectorOutcome[] = [];

  const cutInForce: number | null = memory.cut?.kappa ?? null;
  let treatmentAbove = 0;
  let controlAbove = 0;
  const factor = 1 + (rule.guardrails.maxP95Increase ?? 0);
  if (memory.cut && control) {
    treatmentAbove = cohort.latency.countAbove(factor * memory.cut.kappa);
    controlAbove = control.latency.countAbove(memory.cut.kappa);
  }

  for (const spec of input.specs) {
    const id = guardId(spec);
    logE.fill(0);
    counts.fill(0);
    if (dT) {
      if (spec.metric !== 'latencyP95') {
        const i = spec.metric === 'activation' ? 0 : 2;
        const theta = spec.metric === 'activation' ? rule.activationThreshold : rule.retentionThreshold;
        const t = { n: dT[i], successes: dT[i + 1] };
        if (spec.comparison === 'threshold' || dC) {
          counts[0] = t.n;
          counts[1] = t.successes;
        }
        if (spec.comparison === 'threshold') rateThresholdBets(t, theta, logE);
        else if (dC) {
          const c = { n: dC[i], successes: dC[i + 1] };
          counts[2] = c.n;
          counts[3] = c.successes;
          // The centre must be fixed before the step: the pooled rate so far, else the threshold.
          const pooledN = (memory.cohort?.[i] ?? 0) + (memory.control?.[i] ?? 0);
          const centre = pooledN > 0 ? ((memory.cohort?.[i + 1] ?? 0) + (memory.control?.[i + 1] ?? 0)) / pooledN : theta;
          const maxDrop = (spec.metric === 'activation' ? rule.guardrails.maxActivationDrop : rule.guardrails.maxRetentionDrop) ?? 0;
          rateVsControlBets(t, c, centre, maxDrop, logE);
        }
      } else if (spec.comparison === 'threshold') {
        counts[0] = dT[4];
        counts[1] = dT[5];
        latencyThresholdBets(latencyStep(dT), P95_EXCEEDANCE_SHARE, logE);
      } else if (dC && memory.cut && control) {
        const yT = treatmentAbove - memory.cut.treatmentAbove;
        const zC = controlAbove - memory.cut.controlAbove;
        if (yT >= 0 && zC >= 0) {
          counts[0] = dT[4];
          counts[1] = yT;
          counts[2] = dC[4];
          counts[3] = zC;
          latencyVsControlBets(
            { step: latencyStep(dT), above: yT, designEffect: latencyDesignEffect(cohort.latency) },
            { step: latencyStep(dC), above: zC, designEffect: latencyDesignEffect(control.latency) },
            P95_EXCEEDANCE_SHARE,
            logE,
          );
        }
      }
    }
    const detector = (memory.detectors[id] ??= newDetector(BETS, SUMS));
    const reading = updateDetector(detector, { logE, startWeight, stepStart, counts });
    const alphaG = input.alphaByGuard[id];
    const split = spec.metric === 'activation' && spec.comparison === 'vs-control' && early ? PRODUCT_LIMIT_SHARE : 0;
    const logThreshold = Math.log(1 / (alphaG * (1 - split)));
    let outcome: DetectorOutcome = {
      id, spec, logValue: reading.logValue, logThreshold, alarm: reading.logValue >= logThreshold,
      since: Math.max(detector.since[reading.leading], cohort.firstExposureAt),
      sums: runSums(detector, reading.leading),
      cut: spec.metric === 'latencyP95' && spec.comparison === 'vs-control' ? cutInForce : null,
      productLimit: null,
    };
    const plT = split > 0 && early ? productLimitCounts(cohort, early.afterMs) : null;
    const plC = split > 0 && early && control ? productLimitCounts(control, early.afterMs) : null;
    const pl = plT && plC ? stepProductLimit((memory.productLimit ??= newProductLimitState()), plT, plC, rule.guardrails.maxActivationDrop ?? 0) : null;
    if (pl && early) {
      const plThreshold = Math.log(1 / (alphaG * split));
      // A function of the cumulative counts since the first exposure: its "since" is that exposure.
      const plOutcome: DetectorOutcome = {
        id, spec, logValue: pl.logValue, logThreshold: plThreshold, alarm: pl.logValue >= plThreshold,
        since: cohort.firstExposureAt, sums: [plT!.reached, plT!.early, plC!.reached, plC!.early], cut: null,
        productLimit: { afterMs: early.afterMs, treatment: pl.treatment, control: pl.control },
      };
      // Each test is judged at its own level; the one nearer to (or past) it speaks for the guard.
      if (!outcome.alarm && (plOutcome.alarm || pl.logValue - plThreshold > outcome.logValue - logThreshold)) outcome = plOutcome;
    }
    if (outcome.alarm && memory.alarms[id] === undefined) memory.alarms[id] = at;
    out.push(outcome);
  }

  // The next step's cut: the control's P95 now (fixed before the next step's data).
  if (control && control.latency.p95 !== null) {
    const kappa = control.latency.p95;
    if (!memory.cut || Math.abs(kappa - memory.cut.kappa) > CUT_TOLERANCE * memory.cut.kappa) {
      memory.cut = { kappa, treatmentAbove: cohort.latency.countAbove(factor * kappa), controlAbove: control.latency.countAbove(kappa) };
    } else {
      memory.cut = { kappa: memory.cut.kappa, treatmentAbove, controlAbove };
    }
  }
  // After a reset source (dT null) this re-bases on the new counts.
  memory.cohort = nowT;
  if (nowC) memory.control = nowC;
  memory.at = Math.max(at, memory.at ?? at);
  return out;
}
