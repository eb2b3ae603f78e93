// Gives every guarded cohort seen in the data its flag row, so a feature declared in the rules is
// known to the flag API before anything is rolled back. A rule without explicit `cohorts.guarded`
// guards every cohort but the control, and those names only appear in the data: the registrar
// follows the verdicts topic (one verdict per cohort, published as soon as a cohort is judged,
// pending included) and registers each guarded cohort once. Registration only inserts missing
// rows (`on`); it never changes a state a command or an operator set.

import { once, type Component } from '../core/lifecycle.js';
import { decodeVerdict } from '../events/codec.js';
import type { GroupConsumer, PartitionBatch, PartitionedLog } from '../log/partitioned-log.js';
import type { RuleSet } from '../rules/schema.js';
import { guardedCohorts } from '../verdict/verdict-engine.js';

export interface GuardedCohortRegistrarOptions {
  log: PartitionedLog;
  groupId: string;
  topic: string;
  rules: () => RuleSet;
  ensureGuarded: (feature: string, cohorts: readonly string[]) => Promise<unknown>;
  onError?: (err: unknown, context: string) => void;
}

export class GuardedCohortRegistrar implements Component {
  readonly name = 'guarded-cohort-registrar';
  private consumer?: GroupConsumer;
  private readonly registered = new Set<string>();

  constructor(private readonly o: GuardedCohortRegistrarOptions) {}

  async start(): Promise<void> {
    this.consumer = this.o.log.consumer(
      { groupId: this.o.groupId, topics: [this.o.topic], fromBeginning: true },
      { handleBatch: (batch) => this.handle(batch) },
    );
    await this.consumer.start();
  }

  readonly stop = once(async () => {
    await this.consumer?.stop();
  });

  private async handle(batch: PartitionBatch): Promise<void> {
    const due = new Map<string, Set<string>>();
    const rules = this.o.rules();
    for (const record of batch.records) {
      if (this.allRegistered(rules, record.key)) continue;
      let verdict;
      try {
        verdict = decodeVerdict(record.value);
      } catch (err) {
        this.o.onError?.(err, `verdict at ${batch.topic}/${batch.partition}@${record.offset} skipped by the cohort registrar`);
        continue;
      }
      const rule = rules.byFeature.get(verdict.feature);
      if (!rule || !guardedCohorts(rule, [verdict.cohort]).includes(verdict.cohort)) continue;
      const key = `${verdict.feature}\u0000${verdict.cohort}`;
      if (this.registered.has(key)) continue;
      let set = due.get(verdict.feature);
      if (!set) due.set(verdict.feature, (set = new Set()));
      set.add(verdict.cohort);
    }
    // A store outage throws: the batch is re-delivered, nothing is skipped.
    for (const [feature, cohorts] of due) {
      await this.o.ensureGuarded(feature, [...cohorts]);
      for (const c of cohorts) this.registered.add(`${feature}\u0000${c}`);
    }
  }

  /**
   * The verdict stage keys each verdict by its feature: when that feature's rule names its guarded
   * cohorts and every one is registered, the record has nothing for us and is not decoded. At 100
   * live features the topic carries ~200 heartbeat verdicts per step, and JSON-decoding each one
   * held the event loop that the rollback's command and flag write share in one process.
   */
  private allRegistered(rules: RuleSet, key: string | null): boolean {
    const guarded = key === null ? undefined : rules.byFeature.get(key)?.cohorts.guarded;
    return guarded !== undefined && guarded.every((c) => this.registered.has(`${key}\u0000${c}`));
  }
}
