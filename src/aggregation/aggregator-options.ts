// The options of a PartitionAggregator: what each one means, their defaults (taken from the
// config schema's aggregation section, the only source of defaults) and their validation.

import { PmfError } from '../core/errors.js';
import type { RuleSet } from '../rules/schema.js';
import type { LatencyHistogramSettings } from '../events/latency-histogram.js';
import { MAX_COHORTS } from './user-state-store.js';
import { configDefaults } from '../config/schema.js';

export interface PartitionAggregatorOptions {
  partition: number;
  rules: RuleSet;
  /** Watermark = the slowest live source's highest event time − this. Default 5 min. */
  allowedLatenessMs?: number;
  /** Late data for a window is still applied until the watermark passes its end + this. Default 6 h. */
  lateGraceMs?: number;
  /** Events older than watermark − this are refused. Default: the longest rule window + lateGraceMs. */
  maxLatenessMs?: number;
  /** A source silent while the partition's newest event time moves this much on stops holding the watermark. Default 5 min. */
  sourceIdleMs?: number;
  /** Distinct sources tracked per partition; more share the source "". Default 256. */
  maxSources?: number;
  /** Hard cap on remembered ids; beyond it the oldest arrivals are forgotten (counted). Default 1,000,000. */
  maxDedupeEntries?: number;
  /** Default 64. */
  maxCohortsPerFeature?: number;
  /** Cap on eviction markers (users whose windows closed). Default 5,000,000. */
  maxRetiredUsers?: number;
  /** A named latency span may start this much before the user's first exposure. Default 60 s. */
  latencyJoinSlackMs?: number;
  histogram?: Partial<LatencyHistogramSettings>;
}

// The configured defaults (config/schema.ts), for an aggregator built without a config (tests, tools).
const fromConfig = configDefaults.aggregation;
const DEFAULTS = {
  allowedLatenessMs: fromConfig.allowedLatenessSeconds * 1000,
  lateGraceMs: fromConfig.lateGraceSeconds * 1000,
  sourceIdleMs: fromConfig.sourceIdleSeconds * 1000,
  maxDedupeEntries: fromConfig.maxDedupeEntries,
  maxCohortsPerFeature: fromConfig.maxCohortsPerFeature,
  maxRetiredUsers: fromConfig.maxRetiredUsers,
  // Not configurable: origins tracked per partition (more share one), and how far a latency
  // sample may precede its activation and still join it.
  maxSources: 256,
  latencyJoinSlackMs: 60_000,
};

export type ResolvedOptions = Required<Omit<PartitionAggregatorOptions, 'rules' | 'histogram' | 'maxLatenessMs'>> & {
  maxLatenessMs: number | undefined;
  histogram: Partial<LatencyHistogramSettings>;
};

export function resolveOptions(opts: PartitionAggregatorOptions): ResolvedOptions {
  const r: ResolvedOptions = {
    partition: opts.partition,
    allowedLatenessMs: opts.allowedLatenessMs ?? DEFAULTS.allowedLatenessMs,
    lateGraceMs: opts.lateGraceMs ?? DEFAULTS.lateGraceMs,
    maxLatenessMs: opts.maxLatenessMs,
    sourceIdleMs: opts.sourceIdleMs ?? DEFAULTS.sourceIdleMs,
    maxSources: opts.maxSources ?? DEFAULTS.maxSources,
    maxDedupeEntries: opts.maxDedupeEntries ?? DEFAULTS.maxDedupeEntries,
    maxCohortsPerFeature: opts.maxCohortsPerFeature ?? DEFAULTS.maxCohortsPerFeature,
    maxRetiredUsers: opts.maxRetiredUsers ?? DEFAULTS.maxRetiredUsers,
    latencyJoinSlackMs: opts.latencyJoinSlackMs ?? DEFAULTS.latencyJoinSlackMs,
    histogram: opts.histogram ?? {},
  };
  const problems: string[] = [];
  if (!Number.isInteger(r.partition) || r.partition < 0) problems.push(`partition must be an integer >= 0, got ${r.partition}`);
  if (r.maxLatenessMs !== undefined && !(Number.isFinite(r.maxLatenessMs) && r.maxLatenessMs >= 0)) problems.push(`maxLatenessMs must be a finite number >= 0, got ${r.maxLatenessMs}`);
  for (const key of ['allowedLatenessMs', 'lateGraceMs', 'sourceIdleMs', 'latencyJoinSlackMs'] as const) {
    if (!Number.isFinite(r[key]) || r[key] < 0) problems.push(`${key} must be a finite number >= 0, got ${r[key]}`);
  }
  for (const key of ['maxDedupeEntries', 'maxCohortsPerFeature', 'maxRetiredUsers', 'maxSources'] as const) {
    if (!Number.isSafeInteger(r[key]) || r[key] < 1) problems.push(`${key} must be an integer >= 1, got ${r[key]}`);
  }
  if (r.maxCohortsPerFeature > MAX_COHORTS) problems.push(`maxCohortsPerFeature must be <= ${MAX_COHORTS}, got ${r.maxCohortsPerFeature}`);
  if (problems.length > 0) throw new PmfError('ERR_CONFIG_INVALID', `aggregator options: ${problems.join('; ')}`);
  return r;
}
