// Caps on distinct features and on cohorts per feature at the receiver, so a client that puts
// request ids or user ids into feature_flag.key / variant cannot grow Kafka keys, aggregator
// state and verdict fan-out without bound. Over a cap the exposure is dropped from the event
// (the event itself still counts as user activity) and counted by reason; nothing is folded into
// a synthetic cohort, so no verdict can ever be issued on an overflow bucket. Features named by
// the rules are always admitted and do not use up the feature cap.

export type OverflowReason = 'feature_overflow' | 'cohort_overflow';

export interface CardinalityLimits {
  maxFeatures: number;
  maxCohortsPerFeature: number;
  /** Features the loaded rules name. */
  knownFeatures?: Iterable<string>;
}

export class CardinalityGuard {
  private readonly cohorts = new Map<string, Set<string>>();
  private unknownFeatures = 0;

  constructor(private readonly limits: CardinalityLimits) {
    for (const f of limits.knownFeatures ?? []) this.cohorts.set(f, new Set());
  }

  /** A rules reload names more features: they are admitted from now on, whatever the cap. */
  addKnownFeatures(features: Iterable<string>): void {
    for (const f of features) if (!this.cohorts.has(f)) this.cohorts.set(f, new Set());
  }

  /** Distinct features seen or named by the rules. */
  get trackedFeatures(): number {
    return this.cohorts.size;
  }

  /** undefined when (feature, variant) may pass, else why not. */
  admit(feature: string, variant: string): OverflowReason | undefined {
    let variants = this.cohorts.get(feature);
    if (!variants) {
      if (this.unknownFeatures >= this.limits.maxFeatures) return 'feature_overflow';
      this.unknownFeatures++;
      variants = new Set();
      this.cohorts.set(feature, variants);
    }
    if (variants.has(variant)) return undefined;
    if (variants.size >= this.limits.maxCohortsPerFeature) return 'cohort_overflow';
    variants.add(variant);
    return undefined;
  }
}
