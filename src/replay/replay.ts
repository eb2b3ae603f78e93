// Replay: recomputes verdicts from a recorded event log with a given rules file, without writing
// any flag. The live pipeline checkpoints on wall-clock timers; replay instead snapshots every
// partition at fixed steps of event time and feeds the verdict engine in partition order, so the
// same input and rules always give byte-identical output.

import type { FeatureEvent } from '../events/feature-event.js';
import { toFeaturePartials } from '../events/feature-partial.js';
import type { FlagCommand } from '../events/flag-command.js';
import type { Verdict } from '../events/verdict.js';
import type { RuleSet } from '../rules/schema.js';
import { PartitionAggregator, type PartitionAggregatorOptions } from '../aggregation/partition-aggregator.js';
import type { CohortEvaluator } from '../verdict/cohort-evaluator.js';
import { VerdictEngine } from '../verdict/verdict-engine.js';

/** One record of the events topic: its events share its offset. */
export interface RecordedEvent {
  partition: number;
  offset: string;
  events: FeatureEvent[];
}

export interface ReplayOptions {
  rules: RuleSet;
  evaluator: CohortEvaluator;
  /** Snapshot every partition after this much event time (default 60 s). */
  stepMs?: number;
  heartbeatMs?: number;
  /** The live aggregator's settings (app/stage-settings.ts), so replay counts what it counts. */
  aggregation?: Omit<PartitionAggregatorOptions, 'partition' | 'rules'>;
}

export interface ReplayResult {
  verdicts: Verdict[];
  /** Commands the live pipeline would have sent (nothing is written). */
  commands: FlagCommand[];
  events: number;
}

/**
 * Replays records given per partition in offset order (a record's events together, as the live
 * aggregator applies them; records are never empty). Partitions are interleaved by event time
 * (ties by partition number), the way a live group with all partitions caught up would see them.
 */
export function replay(partitions: Map<number, RecordedEvent[]>, o: ReplayOptions): ReplayResult {
  const stepMs = o.stepMs ?? 60_000;
  const aggregators = new Map<number, PartitionAggregator>();
  for (const p of [...partitions.keys()].sort((a, b) => a - b)) {
    aggregators.set(p, new PartitionAggregator({ ...o.aggregation, partition: p, rules: o.rules }));
  }
  const engine = new VerdictEngine({ rules: o.rules, evaluator: o.evaluator, heartbeatMs: o.heartbeatMs ?? 3600_000 });
  const out: ReplayResult = { verdicts: [], commands: [], events: 0 };
  const cursor = new Map<number, number>([...partitions.keys()].map((p) => [p, 0]));

  const publish = () => {
    for (const [, agg] of aggregators) {
      for (const fp of toFeaturePartials(agg.snapshot())) {
        const r = engine.apply(fp);
        out.verdicts.push(...r.verdicts);
        out.commands.push(...r.commands);
      }
    }
  };

  let nextStep: number | undefined;
  for (;;) {
    let best: number | undefined;
    let bestTime = Number.POSITIVE_INFINITY;
    for (const [p, i] of cursor) {
      const list = partitions.get(p)!;
      if (i < list.length && list[i].events[0].time < bestTime) {
        best = p;
        bestTime = list[i].events[0].time;
      }
    }
    if (best === undefined) break;
    if (nextStep === undefined) nextStep = Math.floor(bestTime / stepMs) * stepMs + stepMs;
    while (bestTime >= nextStep) {
      publish();
      nextStep += stepMs;
    }
    const i = cursor.get(best)!;
    const rec = partitions.get(best)![i];
    aggregators.get(best)!.applyRecord(rec.events, rec.offset);
    cursor.set(best, i + 1);
    out.events += rec.events.length;
  }
  publish();
  return out;
}
