// The schema of one webhook target (pure, like the rules), shared by the config (global webhooks) and the rules file
// (per-feature webhooks), so both accept exactly the same fields.

import { z } from 'zod';

/** One webhook: where, in which body format, and which notification kinds (all when absent). */
export const WebhookTarget = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'a webhook url must be http:// or https://' }),
    format: z.enum(['json', 'slack']).default('json'),
    events: z.array(z.enum(['outcome-changed', 'rollback', 'hold', 'stage-changed'])).min(1).optional(),
  })
  .strict();
export type WebhookTargetConfig = z.infer<typeof WebhookTarget>;
