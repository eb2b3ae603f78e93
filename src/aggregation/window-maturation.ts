// Lateness and eviction of the per-(user, feature) windows of a PartitionAggregator:
// an activation / retention effect on a window that already matured is still applied (lateApplied)
// while the watermark is below that window's end + grace, else ignored (lateIgnored); every window
// with firstExposure + window <= watermark matures (the user enters that denominator, and the
// numerator if it succeeded); once both windows matured and the watermark passed the later end +
// grace, the state is evicted and an eviction marker keeps its user from being exposed again.

import type { FeatureEvent } from '../events/feature-event.js';
import type { AggregatorCounters } from './aggregator-counters.js';
import { matchesAction, type CompiledRule } from './compiled-rule.js';
import type { DeadlineQueue } from './deadline-queue.js';
import type { FeatureSlot } from './feature-slot.js';
import { ACTIVATED, ACTIVATION_DONE, RETENTION_DONE, RETURNED, type UserStateStore } from './user-state-store.js';

const BOTH_DONE = ACTIVATION_DONE | RETENTION_DONE;

/** Activation and retention effects of event `e` on state `h` (of a feature with `rule`). */
export function applyWindowEffects(
  store: UserStateStore,
  slot: FeatureSlot,
  rule: CompiledRule,
  h: number,
  e: FeatureEvent,
  watermark: number,
  grace: number,
  counters: AggregatorCounters,
): void {
  const t = e.time;
  const fe = store.firstExposure(h);
  const flags = store.flags(h);
  const wm = watermark;
  if ((flags & ACTIVATED) === 0 && t >= fe && t <= fe + rule.activationWindowMs && matchesAction(rule, e)) {
    if ((flags & ACTIVATION_DONE) === 0) store.setFlag(h, ACTIVATED);
    else if (wm < fe + rule.activationWindowMs + grace) {
      store.setFlag(h, ACTIVATED);
      if (rule.hasActivation) slot.cohorts[store.cohort(h)].activationSuccesses++;
      counters.lateApplied++;
    } else counters.lateIgnored++;
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
  for (let h = q.peek(); h !== -1 && q.due(h) <= watermark; h = q.peek()) {
    const slot = slots[store.feature(h)];
    const rule = slot.rule as CompiledRule; // frozen features are not queued
    const acc = slot.cohorts[store.cohort(h)];
    let flags = store.flags(h);
    if ((flags & ACTIVATION_DONE) === 0 && q.activationEnd(h) <= watermark) {
      store.setFlag(h, ACTIVATION_DONE);
      if (rule.hasActivation) {
        acc.activationMatured++;
        if ((flags & ACTIVATED) !== 0) acc.activationSuccesses++;
      }
    }
    if ((flags & RETENTION_DONE) === 0 && q.retentionEnd(h) <= watermark) {
      store.setFlag(h, RETENTION_DONE);
      acc.retentionMatured++;
      if ((flags & RETURNED) !== 0) acc.retentionSuccesses++;
    }
    flags = store.flags(h);
    if ((flags & BOTH_DONE) === BOTH_DONE && q.retireAt(h) <= watermark) {
      q.pop();
      counters.forgottenUsers += store.retire(h);
      counters.evictedUsers++;
    } else {
      q.topChanged();
    }
  }
}

/** Sets the deadline queue's window lengths by feature slot (+Infinity for frozen features). */
export function setWindowLengths(q: DeadlineQueue, slots: readonly FeatureSlot[]): void {
  const n = slots.length;
  const activation = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const retention = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  for (let f = 0; f < n; f++) {
    const rule = slots[f].rule;
    if (rule === undefined) continue;
    activation[f] = rule.activationWindowMs;
    retention[f] = rule.retentionWindowMs;
  }
  q.setWindows(activation, retention);
}
