// The optional `rollout` of a rule: the stages a guarded cohort's allocation climbs through, and
// what the verdict engine does when a stage's evidence passes or stays undecided. Without it a
// guarded cohort is served to all of its users (allocation 100 %), as before rollouts existed.

import { z } from 'zod';

/** Allocation is stored and hashed in basis points, so a percentage has at most two decimals. */
export const ALLOCATION_STEPS = 10_000;

export function percentToBasisPoints(percent: number): number {
  return Math.round(percent * 100);
}

const hasTwoDecimalsAtMost = (p: number) => Math.abs(p * 100 - Math.round(p * 100)) < 1e-9;

export const AllocationPercent = z
  .number()
  .min(0)
  .max(100)
  .refine(hasTwoDecimalsAtMost, { message: 'a percentage has at most two decimals (allocation is in steps of 0.01 %)' });

export const RolloutStage = z
  .object({
    percent: AllocationPercent.refine((p) => p > 0, { message: 'a stage needs a percent above 0 (0 is what a rollback sets)' }),
    /** Event time the stage must last before it may advance. */
    minDurationSeconds: z.number().int().min(0).default(0),
    /** Users first exposed to the cohort during the stage before it may advance. */
    minUsers: z.number().int().min(0).default(0),
  })
  .strict();
export type RolloutStage = z.infer<typeof RolloutStage>;

export const Rollout = z
  .object({
    stages: z.array(RolloutStage).min(1, 'a rollout needs at least one stage'),
    /** When a stage's guards pass and its minimums are met: advance by itself, or hold for a person. */
    onPass: z.enum(['advance', 'hold']).default('advance'),
    /**
     * What "the guards pass" means for a stage: `pass`, every guard decided pass (the verdict's
     * outcome); or `no-regression`, the gates are open and no guard has failed, though some are
     * still undecided (small early stages rarely gather enough users to prove a pass).
     */
    advanceWhen: z.enum(['pass', 'no-regression']).default('pass'),
    /** When the verdict is inconclusive: hold the stage for a person, or roll the cohort back. */
    onInconclusive: z.enum(['hold', 'rollback']).default('hold'),
    /** Mixed into the bucketing hash; a new salt draws a new population of users. */
    salt: z.string().max(64).default(''),
  })
  .strict()
  .superRefine((r, ctx) => {
    r.stages.forEach((s, i) => {
      if (i > 0 && s.percent <= r.stages[i - 1].percent) {
        ctx.addIssue({
          code: 'custom',
          path: ['stages', i, 'percent'],
          message: `stage percents must rise: ${s.percent} follows ${r.stages[i - 1].percent}`,
        });
      }
    });
  });
export type Rollout = z.infer<typeof Rollout>;

/** Field-name prefixes of the Redis flag hash that carry a cohort's rollout (flags/redis-keys.ts); no cohort may start with one. */
export const RESERVED_COHORT_PREFIXES = ['allocation:', 'salt:', 'control:'] as const;

export function hasReservedPrefix(cohort: string): boolean {
  return RESERVED_COHORT_PREFIXES.some((p) => cohort.startsWith(p));
}

/** Whether a name would collide with a field of the Redis flag hash that is not a cohort. */
export function reservedCohortName(cohort: string): boolean {
  return cohort === 'version' || hasReservedPrefix(cohort);
}
