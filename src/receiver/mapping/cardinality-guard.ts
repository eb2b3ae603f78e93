// Caps on distinct features and on cohorts per feature at the receiver, so a client that puts
// request ids or user ids into feature_flag.key / variant cannot grow Kafka keys, aggregator
// state and verdict fan-out without bound. Over a cap the exposure is dropped from the event
// (the event itself still counts as user activity) and counted by reason; nothing is folded into
// a synthetic cohort, so no verdict can ever be issued on an overflow bucket. Features named by
// the rules are always admitted and do not use up the feature cap.
//
// The guard forgets: a variant, or a feature the rules do not name, that has not been seen for
// `idleMs` leaves it and frees its slot, so a burst of junk keys last week does not keep this
// week's real features out. The caps are per receiver process: with N receivers a fleet admits
// up to N × maxFeatures distinct features in the worst case (each process fills its own slots
// from the traffic it sees), and the aggregator's own per-feature cohort cap is the fleet-wide bound.

import { systemClock, type Clock } from '../../core/clock.js';
import { configDefaults } from '../../config/schema.js';

export type OverflowReason = 'feature_overflow' | 'cohort_overflow';

export interface CardinalityLimits {
  maxFeatures: number;
  maxCohortsPerFeature: number;
  /** How long an unseen entry is remembered (default 24 h). */
  idleMs?: number;
  /** Features the loaded rules name. */
  knownFeatures?: Iterable<string>;
  clock?: Clock;
}

interface FeatureEntry {
  known: boolean;
  lastSeen: number;
  /** variant → last time seen */
  variants: Map<string, number>;
}


export class CardinalityGuard {
  private readonly features = new Map<string, FeatureEntry>();
  private unknownFeatures = 0;
  private readonly idleMs: number;
  private readonly clock: Clock;
  private nextSweep: number;
  /** Entries forgotten after idleMs (features and variants). */
  forgotten = 0;

  constructor(private readonly limits: CardinalityLimits) {
    this.clock = limits.clock ?? systemClock;
    this.idleMs = limits.idleMs ?? configDefaults.receiver.cardinalityIdleSeconds * 1000;
    const now = this.clock.now();
    this.nextSweep = now + this.sweepEvery();
    for (const f of limits.knownFeatures ?? []) this.features.set(f, { known: true, lastSeen: now, variants: new Map() });
  }

  private sweepEvery(): number {
    return Math.max(1000, Math.min(60_000, this.idleMs / 10));
  }

  /** A rules reload names more features: they are admitted from now on, whatever the cap. */
  addKnownFeatures(features: Iterable<string>): void {
    for (const f of features) {
      const entry = this.features.get(f);
      if (!entry) this.features.set(f, { known: true, lastSeen: this.clock.now(), variants: new Map() });
      else if (!entry.known) {
        entry.known = true;
        this.unknownFeatures--;
      }
    }
  }

  /** Distinct features tracked now (named by the rules, or seen within idleMs). */
  get trackedFeatures(): number {
    return this.features.size;
  }

  /** undefined when (feature, variant) may pass, else why not. `now` lets a caller read the clock once per request. */
  admit(feature: string, variant: string, now = this.clock.now()): OverflowReason | undefined {
    if (now >= this.nextSweep) this.sweep(now);
    let entry = this.features.get(feature);
    if (!entry) {
      if (this.unknownFeatures >= this.limits.maxFeatures) return 'feature_overflow';
      this.unknownFeatures++;
      entry = { known: false, lastSeen: now, variants: new Map() };
      this.features.set(feature, entry);
    }
    entry.lastSeen = now;
    const variants = entry.variants;
    if (variants.has(variant)) {
      variants.set(variant, now);
      return undefined;
    }
    if (variants.size >= this.limits.maxCohortsPerFeature) return 'cohort_overflow';
    variants.set(variant, now);
    return undefined;
  }

  /** Forgets what was not seen for idleMs; known features stay (their variants may go). */
  sweep(now = this.clock.now()): void {
    this.nextSweep = now + this.sweepEvery();
    const cutoff = now - this.idleMs;
    for (const [feature, entry] of this.features) {
      for (const [variant, seen] of entry.variants) {
        if (seen <= cutoff) {
          entry.variants.delete(variant);
          this.forgotten++;
        }
      }
      if (!entry.known && entry.lastSeen <= cutoff) {
        this.features.delete(feature);
        this.unknownFeatures--;
        this.forgotten++;
      }
    }
  }
}
