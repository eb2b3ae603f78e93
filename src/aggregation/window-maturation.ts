// Lateness and eviction of the per-(user, feature) windows of a PartitionAggregator:
// an activation / retention effect on a window that already matured is still applied (lateApplied)
// while the watermark is below that window's end + grace, else ignored (lateIgnored); every window
// with firstExposure + window <= watermark matures (the user enters that denominator, and the
// numerator if it succeeded); once both windows matured and the watermark passed the later end +
// grace, the state is evicted and an eviction marker keeps its user from being exposed again.
// The early activation landmark (rule activation.earlySeconds = L) is a third deadline of the
// same kind: at firstExposure + L <= watermark the user is reached (enters the early counts, and
// their successes if an action with firstExposure <= t <= firstExposure + L was applied by then).
// A late such action is still applied while the activation window is open for late data (the
// watermark below its end + grace), so every early success is also an activation success. A user
// who matures with an early success is also counted in the matured early successes (also when
// the early success is applied late, after maturing), so those are a subset of both.

import type { EventBody } from '../events/feature-event.js';
import type { AggregatorCounters } from './aggregator-counters.js';
import { matchesAction, type CompiledRule } from './compiled-rule.js';
import { DUE_ACTIVATION, DUE_EARLY, DUE_RETENTION, DUE_RETIRE, type DeadlineQueue } from './deadline-queue.js';
import type { FeatureSlot } from './feature-slot.js';
import {
  ACTIVATED,
  ACTIVATION_DONE,
  EARLY_EXCLUDED,
  EARLY_HIT,
  EARLY_REACHED,
  RETENTION_DONE,
  RETURNED,
  type UserStateStore,
} from './user-state-store.js';

const BOTH_DONE = ACTIVATION_DONE | RETENTION_DONE;

/** Activation and retention effects of event `e` on state `h` (of a feature with `rule`). */
export function applyWindowEffects(
  store: UserStateStore,
  slot: FeatureSlot,
  rule: CompiledRule,
  h: number,
  e: EventBody,
  watermark: number,
  grace: number,
  counters: AggregatorCounters,
): void {
  const t = e.time;
  const fe = store.firstExposure(h);
  const flags = store.flags(h);
  const wm = watermark;
  const inWindow = t >= fe && t <= fe + rule.activationWindowMs;
  const early = store.earlyFlags(h);
  const wantsActivation = (flags & ACTIVATED) === 0;
  const wantsEarly = rule.earlyMs > 0 && (early & (EARLY_HIT | EARLY_EXCLUDED)) === 0 && t <= fe + rule.earlyMs;
  if (inWindow && (wantsActivation || wantsEarly) && matchesAction(rule, e)) {
    const open = wm < fe + rule.activationWindowMs + grace;
    // An event late for both the window and the landmark is counted once.
    let late = false;
    if (wantsActivation) {
      if ((flags & ACTIVATION_DONE) === 0) store.setFlag(h, ACTIVATED);
      else {
        late = true;
        if (open) {
          store.setFlag(h, ACTIVATED);
          if (rule.hasActivation) slot.cohorts[store.cohort(h)].activationSuccesses++;
          counters.lateApplied++;
        } else counters.lateIgnored++;
      }
    }
    if (wantsEarly) {
      if ((early & EARLY_REACHED) === 0) store.setEarlyFlag(h, EARLY_HIT);
      else if (open) {
        store.setEarlyFlag(h, EARLY_HIT);
        const acc = slot.cohorts[store.cohort(h)];
        acc.earlySuccesses++;
        // Already matured: it counted as not activated by the landmark there.
        if ((flags & ACTIVATION_DONE) !== 0 && rule.hasActivation && acc.earlyMaturedSuccesses >= 0) acc.earlyMaturedSuccesses++;
        if (!late) counters.lateApplied++;
      } else if (!late) counters.lateIgnored++;
    }
  }
  if ((flags & RETURNED) === 0 && t >= fe + rule.returnAfterMs && t < fe + rule.retentionWindowMs) {
    if ((flags & RETENTION_DONE) === 0) store.setFlag(h, RETURNED);
    else if (wm < fe + rule.retentionWindowMs + grace) {
      store.setFlag(h, RETURNED);
      slot.cohorts[store.cohort(h)].retentionSuccesses++;
      counters.lateApplied++;
    } else counters.lateIgnored++;
  }
}

/** Matures every window due at `watermark` and evicts the states whose windows all closed. */
export function matureDue(
  q: DeadlineQueue,
  store: UserStateStore,
  slots: readonly FeatureSlot[],
  watermark: number,
  counters: AggregatorCounters,
): void {
  if (q.nothingDueBy(watermark)) return;
  for (let h = q.peek(); h !== -1 && q.due(h) <= watermark; h = q.peek()) {
    const slot = slots[store.feature(h)];
    const rule = slot.rule as CompiledRule; // frozen features are not queued
    const acc = slot.cohorts[store.cohort(h)];
    const due = q.dueBy(h, watermark);
    if ((due & DUE_EARLY) !== 0) {
      store.setEarlyFlag(h, EARLY_REACHED);
      acc.earlyReached++;
      if ((store.earlyFlags(h) & EARLY_HIT) !== 0) acc.earlySuccesses++;
    }
    let flags = store.flags(h);
    if ((flags & ACTIVATION_DONE) === 0 && (due & DUE_ACTIVATION) !== 0) {
      store.setFlag(h, ACTIVATION_DONE);
      if (rule.hasActivation) {
        acc.activationMatured++;
        if ((flags & ACTIVATED) !== 0) acc.activationSuccesses++;
        const early = store.earlyFlags(h);
        if ((early & (EARLY_REACHED | EARLY_HIT | EARLY_EXCLUDED)) === (EARLY_REACHED | EARLY_HIT) && acc.earlyMaturedSuccesses >= 0) acc.earlyMaturedSuccesses++;
      }
    }
    if ((flags & RETENTION_DONE) === 0 && (due & DUE_RETENTION) !== 0) {
      store.setFlag(h, RETENTION_DONE);
      acc.retentionMatured++;
      if ((flags & RETURNED) !== 0) acc.retentionSuccesses++;
    }
    flags = store.flags(h);
    if ((flags & BOTH_DONE) === BOTH_DONE && (due & DUE_RETIRE) !== 0) {
      q.pop();
      counters.forgottenUsers += store.retire(h);
      counters.evictedUsers++;
    } else {
      q.topChanged();
    }
  }
}

/** Sets the deadline queue's window lengths by feature slot (+Infinity for frozen features and no landmark). */
export function setWindowLengths(q: DeadlineQueue, slots: readonly FeatureSlot[]): void {
  const n = slots.length;
  const activation = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const retention = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const early = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  for (let f = 0; f < n; f++) {
    const rule = slots[f].rule;
    if (rule === undefined) continue;
    activation[f] = rule.activationWindowMs;
    retention[f] = rule.retentionWindowMs;
    if (rule.earlyMs > 0) early[f] = rule.earlyMs;
  }
  q.setWindows(activation, retention, early);
}

/**
 * Makes every cohort's early counts be at its rule's current landmark. Counts at another landmark
 * (or none: a new opt-in, a checkpoint from before early counts) start from zero, and the users
 * whose state is live then are excluded from them for good: what they did before the new landmark
 * is not known. Frozen features keep theirs until their rule comes back. Depends only on the
 * state and the rules, so a restored aggregator decides as the original did.
 */
export function alignEarlyLandmarks(store: UserStateStore, slots: readonly FeatureSlot[]): void {
  const stale = slots.map((slot) => {
    const rule = slot.rule;
    if (rule === undefined) return false;
    let changed = false;
    for (const acc of slot.cohorts) {
      if (acc.earlyAfterMs === rule.earlyMs) continue;
      acc.resetEarly(rule.earlyMs);
      changed = true;
    }
    return changed;
  });
  if (!stale.includes(true)) return;
  for (let h = 0; h < store.handleLimit; h++) if (store.isLive(h) && stale[store.feature(h)]) store.setEarlyFlag(h, EARLY_EXCLUDED);
}
