// Replay: recomputes verdicts from a recorded event log with a given rules file, without writing
// any flag. It drives the live code: one AggregatorProcessor per partition (step snapshots each
// time a partition's watermark crosses a multiple of the verdict step) and one VerdictEngine that
// evaluates every step once all partitions have passed it. Those snapshots depend only on each
// partition's records, and the engine's output only on the snapshots, so a replay of the log the
// live pipeline consumed gives its verdict stream bit for bit (docs/aggregation.md says when a
// partition that receives its first record late can make them differ).

import type { FeatureEvent } from '../events/feature-event.js';
import type { FlagCommand } from '../events/flag-command.js';
import type { SourceMark } from '../events/watermark-marker.js';
import { topicNames } from '../events/topics.js';
import type { Verdict } from '../events/verdict.js';
import type { RuleSet } from '../rules/schema.js';
import { PartitionAggregator, type PartitionAggregatorOptions } from '../aggregation/partition-aggregator.js';
import { AggregatorProcessor } from '../stream/aggregator-processor.js';
import type { CohortEvaluator } from '../verdict/cohort-evaluator.js';
import { VerdictEngine } from '../verdict/verdict-engine.js';

/** One record of the events topic: its events share its offset (a watermark marker has none). */
export interface RecordedEvent {
  partition: number;
  offset: string;
  events: FeatureEvent[];
  /** A watermark marker record (no events): its marks, applied as the live aggregator does. */
  marks?: SourceMark[];
}

/** Where a record sits in event time, for interleaving partitions: its first event, or a marker's latest mark. */
function recordTime(r: RecordedEvent): number {
  if (r.marks === undefined) return r.events[0].time;
  let t = Number.NEGATIVE_INFINITY;
  for (const m of r.marks) if (m.time > t) t = m.time;
  return t;
}

export interface ReplayOptions {
  rules: RuleSet;
  evaluator: CohortEvaluator;
  /** The verdict step (event time) of the live pipeline (default 60 s). */
  stepMs?: number;
  heartbeatMs?: number;
  /** Partitions of the live events topic (the engine waits for them as live; default: those in the input). */
  partitions?: number;
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
 * aggregator applies them; records are never empty). The interleaving of partitions does not
 * change the result; they are interleaved by event time (ties by partition number) so the engine
 * holds few pending snapshots.
 */
export function replay(partitions: Map<number, RecordedEvent[]>, o: ReplayOptions): ReplayResult {
  const stepMs = o.stepMs ?? 60_000;
  const topics = topicNames('replay.');
  const processors = new Map<number, AggregatorProcessor>();
  for (const p of [...partitions.keys()].sort((a, b) => a - b)) {
    processors.set(p, new AggregatorProcessor(new PartitionAggregator({ ...o.aggregation, partition: p, rules: o.rules }), topics, stepMs));
  }
  const engine = new VerdictEngine({
    rules: o.rules,
    evaluator: o.evaluator,
    heartbeatMs: o.heartbeatMs ?? 3600_000,
    partitions: o.partitions ?? partitions.size,
  });
  const out: ReplayResult = { verdicts: [], commands: [], events: 0 };
  const cursor = new Map<number, number>([...partitions.keys()].map((p) => [p, 0]));
  for (;;) {
    let best: number | undefined;
    let bestTime = Number.POSITIVE_INFINITY;
    for (const [p, i] of cursor) {
      const list = partitions.get(p)!;
      if (i < list.length && recordTime(list[i]) < bestTime) {
        best = p;
        bestTime = recordTime(list[i]);
      }
    }
    if (best === undefined) break;
    const i = cursor.get(best)!;
    const rec = partitions.get(best)![i];
    const processor = processors.get(best)!;
    if (rec.marks !== undefined) processor.applyMarks(rec.marks, rec.offset);
    else processor.applyEvents(rec.events, rec.offset);
    cursor.set(best, i + 1);
    out.events += rec.events.length;
    for (const fp of processor.takeSteps()) {
      const r = engine.apply(fp);
      out.verdicts.push(...r.verdicts);
      out.commands.push(...r.commands);
    }
  }
  return out;
}
