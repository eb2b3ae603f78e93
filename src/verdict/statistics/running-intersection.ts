// Sticky evidence: the running intersection of a confidence sequence (docs/statistics.md).
// If C_t covers the parameter at every t with probability ≥ 1 − α, so does ∩_{s≤t} C_s, and it is
// narrower. Failing iff the intersection lies in the bad region needs only the running max of the
// lower ends and the running min of the upper ends, so a fail can never be undone by later data,
// while a pass can still turn into a fail if the current CS moves into the bad region.
// null stands for an open end (−∞ / +∞) so the state stays JSON.

export interface OpenInterval {
  lower: number | null;
  upper: number | null;
}

export type IntersectionState = Record<string, OpenInterval>;

export function intersect(state: IntersectionState, key: string, current: OpenInterval): OpenInterval {
  const previous = state[key];
  const lower =
    previous?.lower == null ? current.lower : current.lower === null ? previous.lower : Math.max(previous.lower, current.lower);
  const upper =
    previous?.upper == null ? current.upper : current.upper === null ? previous.upper : Math.min(previous.upper, current.upper);
  state[key] = { lower, upper };
  return { lower, upper };
}

/** What to show: the intersection, or the current CS when they have become disjoint (a rare miss). */
export function displayed(intersection: OpenInterval, current: OpenInterval): OpenInterval {
  if (intersection.lower !== null && intersection.upper !== null && intersection.lower > intersection.upper) return current;
  return intersection;
}
