// The output sections of the configuration schema: the status page's history, the webhooks
// notified on outcome changes, rollbacks and holds, and the zombie-feature report. Composed into
// Config by schema.ts.

import { z } from 'zod';
import { WebhookTarget } from '../rules/webhook-target.js';

/** The status page and per-cohort metrics: how many verdict points each cohort's chart keeps. */
export const statusSection = z
  .object({ historyPoints: z.number().int().min(2).max(100_000).default(500) })
  .strict()
  .default({ historyPoints: 500 });

/** Webhooks on outcome changes, rollbacks and holds (global; rules may add their own). */
export const notifySection = z
  .object({
    webhooks: z.array(WebhookTarget).default([]),
    /** HMAC-SHA256 key for the signature header; prefer signingKeyFile or PMF_GUARD_WEBHOOK_SIGNING_KEY. */
    signingKey: z.string().min(16, 'notify.signingKey must be at least 16 characters').optional(),
    signingKeyFile: z.string().min(1).optional(),
    /** Notifications waiting per webhook; past it they are dropped and counted (never blocking verdicts). */
    maxQueue: z.number().int().positive().default(1000),
    /** Attempts per notification (the first plus retries) before giving up, logged and counted. */
    maxAttempts: z.number().int().positive().default(12),
    timeoutMs: z.number().int().positive().default(5000),
    backoff: z
      .object({ initialMs: z.number().int().positive().default(500), maxMs: z.number().int().positive().default(60_000) })
      .strict()
      .default({ initialMs: 500, maxMs: 60_000 }),
  })
  .strict()
  .default({ webhooks: [], maxQueue: 1000, maxAttempts: 12, timeoutMs: 5000, backoff: { initialMs: 500, maxMs: 60_000 } });

/** The zombie-feature report. */
export const reportSection = z
  .object({
    /**
     * A feature whose activation rate over the period is below this is marked zombie: it is
     * exposed (and costs span time) but almost nobody uses it.
     */
    engagementFloor: z.number().min(0).max(1).default(0.02),
  })
  .strict()
  .default({ engagementFloor: 0.02 });
