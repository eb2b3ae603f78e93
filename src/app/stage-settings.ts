// Config → the settings of the stateful stages, in one place, so the live pipeline and the
// replay tool aggregate and judge with the same settings.

import type { Config } from '../config/schema.js';
import type { PartitionAggregatorOptions } from '../aggregation/partition-aggregator.js';
import type { CohortEvaluator } from '../verdict/cohort-evaluator.js';
import { PointEstimateEvaluator } from '../verdict/point-estimate-evaluator.js';
import { SequentialEvaluator } from '../verdict/sequential-evaluator.js';

export function aggregatorSettings(config: Config): Omit<PartitionAggregatorOptions, 'partition' | 'rules'> {
  const a = config.aggregation;
  return {
    allowedLatenessMs: a.allowedLatenessSeconds * 1000,
    lateGraceMs: a.lateGraceSeconds * 1000,
    maxLatenessMs: a.maxLatenessSeconds === undefined ? undefined : a.maxLatenessSeconds * 1000,
    sourceIdleMs: a.sourceIdleSeconds * 1000,
    maxCohortsPerFeature: a.maxCohortsPerFeature,
    maxDedupeEntries: a.maxDedupeEntries,
    maxRetiredUsers: a.maxRetiredUsers,
  };
}

/** How the verdict stage steps through event time; replay uses the same. */
export function verdictSettings(config: Config): { stepMs: number; heartbeatMs: number; partitions: number } {
  // stepSeconds may be fractional (whole milliseconds); rounding removes the float error of × 1000.
  return { stepMs: Math.round(config.verdict.stepSeconds * 1000), heartbeatMs: config.verdict.heartbeatSeconds * 1000, partitions: config.kafka.partitions };
}

export function createEvaluator(config: Config): CohortEvaluator {
  return config.verdict.evaluator === 'sequential' ? new SequentialEvaluator() : new PointEstimateEvaluator();
}
