// Feeds the verdict history (status page, per-cohort gauges, /v1/verdicts) and the webhooks from
// the verdict stage of this process. At start it reads the verdicts topic back, so the last
// verdicts and their charts survive a restart instead of appearing only with new traffic; the
// read-back notifies nobody (those notifications went out before). Live verdicts then come from
// the stage's observer, which never blocks: history updates are in memory and the notifier only
// enqueues.

import type { Component } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import { errorMessage } from '../core/errors.js';
import type { Verdict } from '../events/verdict.js';
import type { PartitionedLog } from '../log/partitioned-log.js';
import type { RuleSet } from '../rules/schema.js';
import type { EngineOutput } from '../verdict/verdict-engine.js';
import type { VerdictHistory } from '../verdict/verdict-history.js';
import { notificationsFor } from '../notify/webhook-body.js';
import type { Notifier, WebhookTarget } from '../notify/notifier.js';
import type { WebhookTargetConfig } from '../rules/webhook-target.js';

export interface VerdictFeedOptions {
  log: PartitionedLog;
  verdictsTopic: string;
  history: VerdictHistory;
  notifier?: Notifier;
  logger: Logger;
}

export class VerdictFeed implements Component {
  readonly name = 'verdict-feed';
  readBack = 0;

  constructor(private readonly o: VerdictFeedOptions) {}

  async start(): Promise<void> {
    if (!this.o.log.readAll) return;
    try {
      for await (const batch of this.o.log.readAll(this.o.verdictsTopic)) {
        for (const r of batch.records) {
          try {
            this.o.history.add(JSON.parse(r.value.toString('utf8')) as Verdict);
            this.readBack++;
          } catch {
            // A record that is not a verdict is the stage's business (it counts rejections); the page skips it.
          }
        }
      }
    } catch (err) {
      // The page is a view: it starts empty rather than keeping the whole process down.
      this.o.logger.warn('could not read the verdicts back; the status page starts empty', { err: errorMessage(err) });
    }
    this.o.logger.info('verdicts read back', { verdicts: this.readBack, cohorts: this.o.history.list().length });
  }

  async stop(): Promise<void> {}

  /** The verdict stage's observer. */
  readonly observe = (out: EngineOutput): void => {
    const rolledBack = new Set(out.commands.map((c) => c.evidence?.verdictId));
    for (const v of out.verdicts) {
      const previous = this.o.history.get(v.feature, v.cohort)?.latest.outcome ?? null;
      this.o.history.add(v);
      if (this.o.notifier) for (const n of notificationsFor(v, previous, rolledBack.has(v.verdictId))) this.o.notifier.notify(n);
    }
  };
}

/** Global webhooks plus each rule's own, restricted to its feature. */
export function webhookTargets(global: readonly WebhookTargetConfig[], rules: RuleSet): WebhookTarget[] {
  return [
    ...global,
    ...rules.rules.flatMap((r) => (r.notify?.webhooks ?? []).map((w) => ({ ...w, features: [r.featureId] }))),
  ];
}
