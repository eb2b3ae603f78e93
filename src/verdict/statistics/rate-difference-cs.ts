// Always-valid CS for Δ = p_T − p_C (treatment-vs-control rate guardrail, docs/statistics.md).
// The asymptotic CS (GrowthBook/Eppo) is only valid as n grows, and with a running intersection an
// early too-narrow interval would poison every later one. So the CS is the intersection of
//   - an exact, conservative part: Robbins CSs per arm at α/4 each, Δ ∈ [L_T − U_C, U_T − L_C], and
//   - the asymptotic part at α/2, used only once both arms have enough units and outcomes;
// by the union bound the intersection covers Δ with probability ≥ 1 − α at every n at once.

import { rateDifferenceCs, type RateArm } from './asymptotic-cs.js';
import { robbinsInterval, type BetaPrior, type Interval } from './robbins-cs.js';

/** Below these the CLT behind the asymptotic part is not trusted; the exact part still counts. */
export const ASYMPTOTIC_MIN_UNITS = 100;
export const ASYMPTOTIC_MIN_OUTCOMES = 10;

export interface RateDifferenceCs extends Interval {
  estimate: number;
  method: 'exact' | 'exact+asymptotic';
}

function asymptoticUsable(arm: RateArm): boolean {
  return (
    arm.n >= ASYMPTOTIC_MIN_UNITS &&
    arm.successes >= ASYMPTOTIC_MIN_OUTCOMES &&
    arm.n - arm.successes >= ASYMPTOTIC_MIN_OUTCOMES
  );
}

export function rateDifferenceGuardCs(
  treatment: RateArm,
  control: RateArm,
  alpha: number,
  prior: BetaPrior,
  tuningN?: number,
): RateDifferenceCs {
  const t = robbinsInterval(treatment.successes, treatment.n, alpha / 4, prior);
  const c = robbinsInterval(control.successes, control.n, alpha / 4, prior);
  const estimate =
    treatment.n > 0 && control.n > 0 ? treatment.successes / treatment.n - control.successes / control.n : 0;
  let lower = t.lower - c.upper;
  let upper = t.upper - c.lower;
  if (!asymptoticUsable(treatment) || !asymptoticUsable(control)) return { estimate, lower, upper, method: 'exact' };
  const asymptotic = rateDifferenceCs(treatment, control, alpha / 2, tuningN);
  lower = Math.max(lower, asymptotic.lower);
  upper = Math.min(upper, asymptotic.upper);
  return { estimate, lower, upper, method: 'exact+asymptotic' };
}
