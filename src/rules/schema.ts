// The rules file (docs/contract.md). The seed's six fields keep the seed's meaning; everything
// else is an optional extension with a default. Parsed with zod; every problem is reported.

import { z } from 'zod';
import { WebhookTarget } from './webhook-target.js';
import { hasReservedPrefix, Rollout } from './rollout-schema.js';

const positiveSeconds = z.number().int().positive();

/**
 * Feature and cohort names end up in Redis keys (`pmf:flag:{<feature>}`, where braces would break
 * the Cluster hash tag), Redis hash fields, URL paths, SQL rows and metric labels: letters,
 * digits and . _ : - only, starting with a letter or digit, at most 128 characters.
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** Fields of the Redis flag hash that are not cohorts. */
export const RESERVED_COHORT_NAMES: readonly string[] = ['version'];

const name = (what: string) =>
  z
    .string()
    .regex(NAME_PATTERN, `${what} must be 1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit (no spaces, braces or control characters)`);
const featureId = name('featureId');
const cohortName = name('a cohort name').refine((n) => !RESERVED_COHORT_NAMES.includes(n), {
  message: `a cohort cannot be named ${RESERVED_COHORT_NAMES.map((n) => `"${n}"`).join(' or ')}: the Redis flag hash uses that field itself; map the variant to another name under cohorts.map`,
});

export const ActionMatch = z
  .object({
    spanName: z.string().min(1).optional(),
    attribute: z.object({ key: z.string().min(1), value: z.string() }).strict().optional(),
  })
  .strict()
  .refine((a) => a.spanName !== undefined || a.attribute !== undefined, {
    message: 'an activation action needs spanName and/or attribute: {key, value}',
  });
export type ActionMatch = z.infer<typeof ActionMatch>;

export const Rule = z
  .object({
    // The original rule fields, which existing rules files use.
    featureId,
    activationThreshold: z.number().min(0).max(1),
    retentionThreshold: z.number().min(0).max(1),
    latencyP95Threshold: z.number().positive(),
    minCohortSize: z.number().int().positive(),
    evaluationWindowSeconds: positiveSeconds,
    // Extensions.
    activation: z
      .object({
        action: ActionMatch.optional(),
        windowSeconds: positiveSeconds.default(86_400),
        // The landmark of the product-limit estimate of the activation rate (docs/statistics.md):
        // the aggregator counts activations within it, so users count long before the window
        // closes. Default: half the window.
        earlySeconds: positiveSeconds.optional(),
      })
      .strict()
      .default({ windowSeconds: 86_400 })
      .refine((a) => a.earlySeconds === undefined || a.earlySeconds < a.windowSeconds, {
        message: 'activation.earlySeconds must be smaller than activation.windowSeconds',
      })
      .transform((a) => ({ ...a, earlySeconds: a.earlySeconds ?? (a.windowSeconds >= 2 ? Math.floor(a.windowSeconds / 2) : undefined) })),
    retention: z
      .object({ returnAfterSeconds: positiveSeconds.default(86_400), windowSeconds: positiveSeconds.default(604_800) })
      .strict()
      .default({ returnAfterSeconds: 86_400, windowSeconds: 604_800 })
      .refine((r) => r.returnAfterSeconds < r.windowSeconds, {
        message: 'retention.returnAfterSeconds must be smaller than retention.windowSeconds',
      }),
    latency: z.object({ spanName: z.string().min(1).optional() }).strict().default({}),
    cohorts: z
      .object({
        control: cohortName.optional(),
        guarded: z.array(cohortName).min(1).optional(),
        /** Maps flag variant values to cohort names; unmapped variants are their own cohort. */
        map: z.record(z.string(), cohortName).optional(),
        /** Expected exposure share per cohort for the SRM guard; default: equal among known cohorts. */
        expectedShares: z.record(cohortName, z.number().positive()).optional(),
      })
      .strict()
      .default({}),
    guardrails: z
      .object({
        maxActivationDrop: z.number().min(0).max(1).optional(),
        maxRetentionDrop: z.number().min(0).max(1).optional(),
        maxP95Increase: z.number().min(0).optional(),
      })
      .strict()
      .default({}),
    alpha: z.number().gt(0).lt(0.5).default(0.05),
    mode: z.enum(['enforce', 'dry-run']).default('enforce'),
    cooldownSeconds: z.number().int().min(0).default(3600),
    /** After this much event time undecided, the cohort is inconclusive (held for a person). */
    maxDurationSeconds: positiveSeconds.default(14 * 86_400),
    /** What an SRM (sample ratio mismatch) does: freeze verdicts, or roll the cohort back. */
    onSrm: z.enum(['freeze', 'rollback']).default('freeze'),
    /** Webhooks for this feature only, besides the global notify.webhooks (signed with the same key). */
    notify: z.object({ webhooks: z.array(WebhookTarget).min(1) }).strict().optional(),
    /** Ramp each guarded cohort through stages of allocation (docs/rollouts.md); absent = 100 %. */
    rollout: Rollout.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const control = r.cohorts.control;
    if (control && r.cohorts.guarded?.includes(control)) {
      ctx.addIssue({ code: 'custom', path: ['cohorts', 'guarded'], message: `the control cohort "${control}" cannot also be guarded` });
    }
    r.cohorts.guarded?.forEach((c, i) => {
      if (hasReservedPrefix(c)) {
        ctx.addIssue({ code: 'custom', path: ['cohorts', 'guarded', i], message: `"${c}" cannot be a guarded cohort: names starting with allocation:, salt: or control: are rollout fields of the Redis flag hash` });
      }
    });
    if (r.rollout && !control) {
      ctx.addIssue({ code: 'custom', path: ['rollout'], message: 'a rollout needs cohorts.control: users outside the allocation are served the control' });
    }
    if (r.rollout && !r.cohorts.guarded) {
      ctx.addIssue({ code: 'custom', path: ['rollout'], message: 'a rollout needs cohorts.guarded: it ramps the listed cohorts' });
    }
    if (r.evaluationWindowSeconds > r.maxDurationSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxDurationSeconds'],
        message: `maxDurationSeconds (${r.maxDurationSeconds}) must be at least evaluationWindowSeconds (${r.evaluationWindowSeconds})`,
      });
    }
  });
export type Rule = z.infer<typeof Rule>;
export type RuleInput = z.input<typeof Rule>;

export const RulesFile = z
  .object({
    /** Optional explicit version; otherwise a content hash names the rules. */
    version: z.string().min(1).optional(),
    rules: z.array(Rule).min(1, 'a rules file needs at least one rule under "rules:"'),
  })
  .strict()
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.rules.forEach((r, i) => {
      if (seen.has(r.featureId)) {
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'featureId'], message: `duplicate featureId "${r.featureId}": one rule per feature` });
      }
      seen.add(r.featureId);
    });
  });
export type RulesFile = z.infer<typeof RulesFile>;

export interface RuleSet {
  version: string;
  rules: readonly Rule[];
  byFeature: ReadonlyMap<string, Rule>;
}
