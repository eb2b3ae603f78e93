// The stream-stage sections of the configuration schema: the aggregator and the verdict stage.
// Composed into Config by schema.ts.

import { z } from 'zod';

export const aggregationSection = z
  .object({
    /** The watermark trails the slowest live source's newest event time by this much. */
    allowedLatenessSeconds: z.number().int().min(0).default(300),
    /** Late data for a window is still applied until the watermark passes the window's end + this. */
    lateGraceSeconds: z.number().int().min(0).default(21_600),
    /** Events older than watermark − this are refused (counted). Default: the longest rule window + lateGraceSeconds. */
    maxLatenessSeconds: z.number().int().positive().optional(),
    /** A source (service) silent while its partition's newest event time moves this much on stops holding the watermark. */
    sourceIdleSeconds: z.number().int().positive().default(300),
    /** A checkpoint (state + offsets, atomically) at least this often. */
    checkpointIntervalMs: z.number().int().positive().default(1000),
    /**
     * Aggregator partials and verdict-stage outputs are published at least this often, between
     * checkpoints (a rollback command at once): this bounds the span → flag loop, not the checkpoints.
     */
    publishIntervalMs: z.number().int().positive().default(200),
    /** Ids remembered per partition for dedupe; past it the oldest arrivals are forgotten (counted). */
    maxDedupeEntries: z.number().int().positive().default(1_000_000),
    /** Eviction markers kept per partition (users whose windows closed); past it the oldest go (counted). */
    maxRetiredUsers: z.number().int().positive().default(5_000_000),
    maxCohortsPerFeature: z.number().int().positive().default(64),
  })
  .strict()
  .prefault({});

export const verdictSection = z
  .object({
    /** Unchanged verdicts are re-published after this much EVENT time (deterministic: replays match). */
    heartbeatSeconds: z.number().int().positive().default(60),
    /**
     * Verdicts are evaluated each time the merged watermark crosses a multiple of this (event
     * time). Any whole number of milliseconds: a small step shortens the span → flag loop, and
     * costs one snapshot per ruled feature and partition per step (docs/operations.md).
     */
    stepSeconds: z
      .number()
      .positive()
      .refine((s) => Math.abs(s * 1000 - Math.round(s * 1000)) < 1e-6, 'must be a whole number of milliseconds (at most 3 decimals)')
      .default(60),
    /**
     * Wall-clock seconds the verdict stage waits, after it starts, for every partition of the
     * events topic to report before judging without the silent ones (a partition with no data).
     */
    partitionWaitSeconds: z.number().int().positive().default(60),
    evaluator: z.enum(['sequential', 'point-estimate']).default('sequential'),
  })
  .strict()
  .prefault({});
