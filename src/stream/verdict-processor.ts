// Adapts the verdict engine to the stateful runner: cohort-stats records in, verdicts and
// rollback commands out (commands only in enforce mode, decided by the engine), each signed so
// the flag writer can tell them from anything else written to the commands topic. The one use of
// the clock: if some source partition has not reported within startupWaitMs of this processor's
// start, the engine stops waiting for it (a partition with no data must not freeze verdicts).
// The same input topic carries a person's rollout steering requests, applied in log order.
// A cohort-stats record holds one or more step snapshots of one feature (events/cohort-stats-codec.ts,
// or one JSON snapshot in the older format); they are applied in order, as if one record each.
// Checkpoints are incremental (verdict/engine-checkpoint.ts): each writes only the features the
// records since the last one touched; a whole-state checkpoint of an older version is still read.

import type { Clock } from '../core/clock.js';
import type { ConsumedRecord, LogRecord } from '../log/partitioned-log.js';
import { encodeJson } from '../events/codec.js';
import { decodeCohortStats } from '../events/cohort-stats-codec.js';
import { checkRolloutSteer, isRolloutSteer } from '../events/rollout-steer.js';
import type { Topics } from '../events/topics.js';
import { signCommand, type CommandKeyRing } from '../events/command-signature.js';
import type { IncrementalState, Output, PartitionProcessor, ProcessorFactory } from './partition-processor.js';
import { isEngineHead, stateFromRows, VerdictCheckpointer } from '../verdict/engine-checkpoint.js';
import { VerdictEngine, type EngineOutput, type VerdictEngineOptions } from '../verdict/verdict-engine.js';

/** Sees every engine output as it is produced (status history, webhooks); must not block. */
export type VerdictObserver = (out: EngineOutput) => void;

export class VerdictProcessor implements PartitionProcessor {
  private verdicts: LogRecord[] = [];
  private commands: LogRecord[] = [];

  private readonly startedAt: number;

  constructor(
    readonly engine: VerdictEngine,
    private readonly topics: Topics,
    private readonly keyRing: CommandKeyRing,
    private readonly clock: Clock,
    private readonly startupWaitMs: number,
    private readonly observe?: VerdictObserver,
    private readonly checkpointer = new VerdictCheckpointer(),
  ) {
    this.startedAt = clock.now();
  }

  apply(record: ConsumedRecord): void {
    const steer = steerOf(record.value);
    if (steer) {
      this.collect(this.engine.steer(steer));
      return;
    }
    // Decoded whole first: a record that does not decode changes nothing. A snapshot the engine
    // refuses (it then keeps nothing of it) does not cost the record's later steps: they are
    // applied, and the first error is thrown afterwards for the runner to count.
    let failure: { err: unknown } | undefined;
    for (const p of decodeCohortStats(record.value)) {
      try {
        this.collect(this.engine.apply(p));
      } catch (err) {
        failure ??= { err };
      }
    }
    if (failure) throw failure.err;
  }

  private collect(out: EngineOutput): void {
    if (out.verdicts.length > 0) this.observe?.(out);
    for (const v of out.verdicts) this.verdicts.push({ key: v.feature, value: encodeJson(v) });
    for (const c of out.commands) this.commands.push({ key: c.feature, value: encodeJson(signCommand(c, this.keyRing)) });
  }

  /** A rollback waits for nothing: it is the point of the whole pipeline. */
  hasUrgentOutputs(): boolean {
    return this.commands.length > 0;
  }

  takeOutputs(): Output[] {
    if (this.clock.now() - this.startedAt >= this.startupWaitMs) this.collect(this.engine.releaseStartup());
    // A subscriber sees the evidence before the flag changes, so a command goes after its
    // feature's verdicts. Only after those: a step can publish hundreds of other features'
    // heartbeats, and the runner sends outputs in order, so a rollback waiting for their acks
    // would pay for every live feature. Each feature's own verdicts keep their order.
    const commanded = new Set(this.commands.map((c) => c.key));
    const evidence = this.verdicts.filter((v) => commanded.has(v.key));
    const rest = commanded.size === 0 ? this.verdicts : this.verdicts.filter((v) => !commanded.has(v.key));
    // The evidence and the command also skip the queue of other partitions' heartbeats on the
    // verdicts topic's connection (urgent); the runner still sends the evidence before the command.
    const out = [
      { topic: this.topics.verdicts, records: evidence, urgent: true },
      { topic: this.topics.commands, records: this.commands, urgent: true },
      { topic: this.topics.verdicts, records: rest },
    ];
    this.verdicts = [];
    this.commands = [];
    return out;
  }

  serialize(): Buffer {
    return this.engine.serialize();
  }

  checkpoint(_offset: string): IncrementalState {
    return this.checkpointer.take(this.engine);
  }
}

// Steering requests are rare and small; statistics records are not, so only a record that starts
// like a steering request is parsed twice.
function steerOf(value: Buffer) {
  if (value.length > 4096 || value[0] !== 0x7b || !value.includes('"rollout-steer"')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined; // not JSON: decodeCohortStats reports it
  }
  return typeof parsed === 'object' && parsed !== null && isRolloutSteer(parsed as Record<string, unknown>) ? checkRolloutSteer(parsed as Record<string, unknown>) : undefined;
}

export function verdictProcessorFactory(
  topics: Topics,
  options: () => VerdictEngineOptions,
  keyRing: CommandKeyRing,
  clock: Clock,
  startupWaitMs: number,
  observe?: VerdictObserver,
): ProcessorFactory {
  return {
    create: () => new VerdictProcessor(new VerdictEngine(options()), topics, keyRing, clock, startupWaitMs, observe),
    // Its state is small (per rollout, not per user): decoded in one piece.
    restore: async (_partition, state, parts) => {
      if (parts.length === 0 && !isEngineHead(state)) {
        return new VerdictProcessor(VerdictEngine.restore(state, options()), topics, keyRing, clock, startupWaitMs, observe);
      }
      const stored = stateFromRows(state, parts);
      const engine = VerdictEngine.fromState(stored.state, options());
      return new VerdictProcessor(engine, topics, keyRing, clock, startupWaitMs, observe, new VerdictCheckpointer(stored.parts));
    },
  };
}
